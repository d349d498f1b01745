"""``distill report``: one self-contained HTML page on a model file or a training run.

``data`` gathers the records into a typed ``ReportData`` (``history`` reads what a run logged),
``sounds`` makes the clips to listen to, ``figures`` draws the plots (the same PNGs go to W&B at
the end of a run, ``distill.callbacks.report_media``), ``page`` renders ``templates/report.html.j2``.
"""
