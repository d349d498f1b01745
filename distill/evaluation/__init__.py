"""Generation quality: how close generated sound is to the collection it was trained on."""
