// The front end of distill.codes.widget.CodeEditorWidget (an anywidget module).
// Draws the mel (a PNG the Python side renders) above the code grid (drawn here, one band per RVQ
// level, a fixed colour per code index), lets the mouse select a region, and sends actions
// ("apply", "undo", "redo", "save") to Python, which edits, re-renders and syncs the state back.

function codeColour(code, codebookSize) {
  // Golden-angle hues: neighbouring indices get distant colours; the same index, the same colour.
  const hue = (code * 137.508) % 360;
  const light = 38 + 24 * ((code * 7) % codebookSize) / codebookSize;
  return `hsl(${hue.toFixed(1)}, 70%, ${light.toFixed(1)}%)`;
}

function render({ model, el }) {
  const root = document.createElement("div");
  root.className = "distill-code-editor";
  const title = document.createElement("div");
  title.className = "dce-title";
  const mel = document.createElement("img");
  mel.className = "dce-mel";
  const canvas = document.createElement("canvas");
  canvas.className = "dce-grid";
  const controls = document.createElement("div");
  controls.className = "dce-controls";
  const editChoice = document.createElement("select");
  const sourceChoice = document.createElement("select");
  const seed = Object.assign(document.createElement("input"), { type: "number", value: 0, title: "seed" });
  const button = (text, action) => {
    const b = Object.assign(document.createElement("button"), { innerText: text });
    b.onclick = () => model.send({ action, ...(action === "apply" ? editParams() : {}) });
    return b;
  };
  const apply = button("apply", "apply");
  const undo = button("undo", "undo");
  const redo = button("redo", "redo");
  const save = button("save", "save");
  controls.append(editChoice, sourceChoice, seed, apply, undo, redo, save);
  const players = document.createElement("div");
  players.className = "dce-players";
  const status = document.createElement("div");
  status.className = "dce-status";
  root.append(title, mel, canvas, controls, players, status);
  el.appendChild(root);

  const cell = { width: 14, height: 8, gap: 6 };
  let drag = null;

  function editParams() {
    return { edit: editChoice.value, source: sourceChoice.value, seed: Number(seed.value) };
  }

  function geometry() {
    const [levels, rows, columns] = model.get("shape");
    return { levels, rows, columns, band: rows * cell.height + cell.gap };
  }

  function at(event) {
    // (column, level, row) under the mouse; rows run upwards within a level's band.
    const box = canvas.getBoundingClientRect();
    const g = geometry();
    const x = (event.clientX - box.left) * (canvas.width / box.width);
    const y = (event.clientY - box.top) * (canvas.height / box.height);
    const column = Math.max(0, Math.min(g.columns - 1, Math.floor(x / cell.width)));
    const level = Math.max(0, Math.min(g.levels - 1, Math.floor(y / g.band)));
    const within = Math.max(0, Math.min(g.rows - 1, Math.floor((y - level * g.band) / cell.height)));
    return { column, level, row: g.rows - 1 - within };
  }

  function drawGrid() {
    const g = geometry();
    const codes = model.get("codes");
    const size = model.get("codebook_size");
    canvas.width = g.columns * cell.width;
    canvas.height = g.levels * g.band;
    const ctx = canvas.getContext("2d");
    ctx.fillStyle = "#111";
    ctx.fillRect(0, 0, canvas.width, canvas.height);
    for (let q = 0; q < g.levels; q++) {
      for (let r = 0; r < g.rows; r++) {
        for (let c = 0; c < g.columns; c++) {
          ctx.fillStyle = codeColour(codes[q][r][c], size);
          const y = q * g.band + (g.rows - 1 - r) * cell.height;
          ctx.fillRect(c * cell.width, y, cell.width - 1, cell.height - 1);
        }
      }
    }
    const s = model.get("selection");
    if (s && s.stop > s.start) {
      const [firstLevel, stopLevel] = s.levels || [0, g.levels];
      const [firstRow, stopRow] = s.rows || [0, g.rows];
      ctx.strokeStyle = "white";
      ctx.lineWidth = 2;
      for (let q = firstLevel; q < stopLevel; q++) {
        const y = q * g.band + (g.rows - stopRow) * cell.height;
        ctx.strokeRect(s.start * cell.width + 1, y + 1, (s.stop - s.start) * cell.width - 2,
          (stopRow - firstRow) * cell.height - 2);
      }
    }
  }

  function refresh() {
    const [levels, rows, columns] = model.get("shape");
    title.innerText = `${model.get("title")}: ${levels} levels x ${rows} rows x ${columns} columns`;
    mel.src = `data:image/png;base64,${model.get("mel_png")}`;
    mel.style.width = `${columns * cell.width}px`;
    editChoice.replaceChildren(...model.get("edits").map((name) => new Option(name, name)));
    editChoice.value = model.get("edit");
    const sources = model.get("sources");
    sourceChoice.replaceChildren(...sources.map((name) => new Option(`source: ${name}`, name)));
    sourceChoice.disabled = sources.length === 0;
    undo.disabled = !model.get("can_undo");
    redo.disabled = !model.get("can_redo");
    players.replaceChildren(
      ...[["before", "before_wav"], ["after", "after_wav"]].map(([label, key]) => {
        const box = document.createElement("label");
        box.innerText = `${label} `;
        const audio = Object.assign(document.createElement("audio"), { controls: true });
        if (model.get(key)) audio.src = `data:audio/wav;base64,${model.get(key)}`;
        box.appendChild(audio);
        return box;
      }),
    );
    status.innerText = model.get("status");
    drawGrid();
  }

  canvas.addEventListener("mousedown", (event) => {
    drag = at(event);
  });
  canvas.addEventListener("mouseup", (event) => {
    if (!drag) return;
    const end = at(event);
    const oneLevel = drag.level === end.level;
    model.set("selection", {
      start: Math.min(drag.column, end.column),
      stop: Math.max(drag.column, end.column) + 1,
      levels: [Math.min(drag.level, end.level), Math.max(drag.level, end.level) + 1],
      rows: oneLevel ? [Math.min(drag.row, end.row), Math.max(drag.row, end.row) + 1] : null,
    });
    model.save_changes();
    drag = null;
    drawGrid();
  });
  editChoice.onchange = () => {
    model.set("edit", editChoice.value);
    model.save_changes();
  };
  for (const name of ["codes", "shape", "mel_png", "selection", "status", "can_undo", "can_redo",
    "before_wav", "after_wav", "sources", "edit", "title"]) {
    model.on(`change:${name}`, refresh);
  }
  refresh();
}

export default { render };
