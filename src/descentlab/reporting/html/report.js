// report.html: builds the interactive figures from the JSON spec and the compressed float32 block written by
// descentlab/reporting/interactive.py. Plotly (inlined above this script) draws them; this file only unpacks data,
// wires the controls and marks the page as rendered (data-rendered on <html>) for tests and screenshots.
"use strict";

// The block is zlib-compressed float32, little-endian, stored byte-plane by byte-plane (all first bytes, then
// all second bytes, …): neighbouring values share their exponent bytes, which then compress well.
async function inflateFloats(base64) {
  const packed = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
  const stream = new Blob([packed]).stream().pipeThrough(new DecompressionStream("deflate"));
  const planes = new Uint8Array(await new Response(stream).arrayBuffer());
  const n = planes.length / 4;
  const view = new DataView(new ArrayBuffer(planes.length));
  for (let i = 0; i < n; i++) {
    for (let b = 0; b < 4; b++) view.setUint8(4 * i + b, planes[b * n + i]);
  }
  const floats = new Float32Array(n);
  for (let i = 0; i < n; i++) floats[i] = view.getFloat32(4 * i, true);
  return floats;
}

// An array reference {"$f32": [offset, length]} points into the float block; everything else is literal.
function resolve(value, floats) {
  if (Array.isArray(value)) return value.map((v) => resolve(v, floats));
  if (value === null || typeof value !== "object") return value;
  if ("$f32" in value) {
    const [offset, length] = value.$f32;
    return Array.from(floats.subarray(offset, offset + length));
  }
  const out = {};
  for (const [key, v] of Object.entries(value)) out[key] = resolve(v, floats);
  return out;
}

// Single runs travel as one (runs × points) block: one trace, runs separated by gaps, the run in the hover.
function expandRuns(trace) {
  if (!trace.runs) return trace;
  const { x, y, labels } = trace.runs;
  const n = x.length;
  const xs = [], ys = [], custom = [];
  labels.forEach((label, r) => {
    for (let i = 0; i < n; i++) { xs.push(x[i]); ys.push(y[r * n + i]); custom.push(label); }
    xs.push(null); ys.push(null); custom.push(null);
  });
  const out = { ...trace, x: xs, y: ys, customdata: custom };
  delete out.runs;
  return out;
}

// Which traces the controls allow: the chosen phase and setting, single runs only when asked for.
function allowed(meta, state) {
  if (!meta) return true;
  if (meta.phase !== state.phase) return false;
  if (state.setting !== "*" && meta.setting !== state.setting) return false;
  if (meta.kind === "runs" && !state.runs) return false;
  return true;
}

function applyControls(div, state) {
  const hidden = new Set(div.data.filter((t) => t.visible === "legendonly").map((t) => t.legendgroup));
  const visible = div.data.map((t) => (!allowed(t.meta, state) ? false : hidden.has(t.legendgroup) ? "legendonly" : true));
  return Plotly.restyle(div, { visible });
}

function buildControls(div, controls) {
  const box = document.getElementById(div.id + "-controls");
  if (!controls || !box) return;
  const state = { phase: controls.phases ? controls.phases[0][0] : "", setting: "*", runs: false };
  const select = (label, options, onChange) => {
    const wrap = document.createElement("label");
    wrap.textContent = label + " ";
    const el = document.createElement("select");
    options.forEach(([value, text]) => el.add(new Option(text, value)));
    el.addEventListener("change", () => onChange(el.value));
    wrap.appendChild(el);
    box.appendChild(wrap);
    return el;
  };
  let settingSelect = null;
  const fillSettings = () => {
    const options = controls.settings[state.phase] || [];
    settingSelect.innerHTML = "";
    options.forEach(([value, text]) => settingSelect.add(new Option(text, value)));
    state.setting = options.length ? options[0][0] : "*";
  };
  if (controls.phases) {
    select("phase", controls.phases, (v) => { state.phase = v; fillSettings(); applyControls(div, state); });
  }
  settingSelect = select(controls.setting_label || "setting", [], (v) => { state.setting = v; applyControls(div, state); });
  settingSelect.id = div.id + "-setting";
  fillSettings();
  const runs = document.createElement("label");
  const box2 = document.createElement("input");
  box2.type = "checkbox";
  box2.id = div.id + "-runs";
  box2.addEventListener("change", () => { state.runs = box2.checked; applyControls(div, state); });
  runs.append(box2, " show single runs");
  box.appendChild(runs);
  return applyControls(div, state);
}

async function main() {
  const spec = JSON.parse(document.getElementById("figures").textContent);
  const floats = await inflateFloats(document.getElementById("floats").textContent.trim());
  for (const figure of spec.figures) {
    const resolved = resolve(figure, floats);
    const data = resolved.data.map(expandRuns);
    const div = document.getElementById(figure.id);
    await Plotly.newPlot(div, data, resolved.layout, { responsive: true, displaylogo: false });
    await buildControls(div, resolved.controls);
  }
  document.documentElement.dataset.rendered = "true";
}

main().catch((error) => {
  console.error(error);
  document.body.insertAdjacentHTML("afterbegin", '<p class="error">The figures could not be drawn: ' +
    String(error).replace(/</g, "&lt;") + "</p>");
});
