// The rule editor: CodeMirror 5 over the page's <textarea name="source">, with
// - the YAML mode and an overlay for the condition language inside `when:`,
// - validation while typing (POST /ui/rulesets/{id}/check, nothing saved) shown as lint
//   markers at their line and column and as a text list under the editor,
// - completion of field and feature names from the catalogue (Ctrl-Space, and while typing
//   a name in `when:`).
// Without this script the page is a plain labelled textarea with the same buttons.

const CM = window.CodeMirror;
const textarea = document.getElementById("source");
const catalogue = JSON.parse(document.getElementById("catalogue").textContent);
const FIELDS = catalogue.fields;
const FIELD_NAMES = new Set(FIELDS.map((f) => f.name));
const KEYWORDS = new Set(catalogue.keywords);
const editable = textarea.dataset.editable === "yes";

// ---------------------------------------------------------------- condition highlighting

function indentOf(line) {
  return line.length - line.trimStart().length;
}

const conditionOverlay = {
  startState: () => ({ inWhen: false, whenIndent: 0 }),
  copyState: (s) => ({ inWhen: s.inWhen, whenIndent: s.whenIndent }),
  token(stream, state) {
    if (stream.sol()) {
      const line = stream.string;
      const key = /^(\s*)when\s*:/.exec(line);
      if (key) {
        state.inWhen = true;
        state.whenIndent = key[1].length;
        stream.match(/^\s*when\s*:/);
        return null;
      }
      if (state.inWhen && line.trim() !== "" && indentOf(line) <= state.whenIndent) {
        state.inWhen = false;
      }
    }
    if (!state.inWhen) {
      stream.skipToEnd();
      return null;
    }
    if (stream.eatSpace()) return null;
    if (stream.match("#")) {
      stream.skipToEnd();
      return "comment";
    }
    if (stream.match(/^"(?:[^"\\]|\\.)*"?/) || stream.match(/^'(?:[^'\\]|\\.)*'?/)) {
      return "string cm-cond-string";
    }
    if (stream.match(/^\d+(\.\d+)?([eE][+-]?\d+)?/) || stream.match(/^\.\d+/)) {
      return "number cm-cond-number";
    }
    const name = stream.match(/^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*/);
    if (name) {
      const word = name[0];
      if (KEYWORDS.has(word)) return "keyword cm-cond-keyword";
      if (FIELD_NAMES.has(word)) return "variable-2 cm-cond-field";
      if (word.startsWith("params.") || word.startsWith("ref.")) return "variable-3 cm-cond-param";
      return "variable cm-cond-name";
    }
    if (stream.match(/^(==|!=|<=|>=|<|>|=|\+|-|\*|\/)/)) return "operator cm-cond-operator";
    stream.next();
    return null;
  },
};

CM.defineMode("assay-rule", (config) =>
  CM.overlayMode(CM.getMode(config, "yaml"), conditionOverlay),
);

// ---------------------------------------------------------------------------- completion

function nameBefore(cm) {
  const cursor = cm.getCursor();
  const line = cm.getLine(cursor.line);
  let start = cursor.ch;
  while (start > 0 && /[A-Za-z0-9_.]/.test(line.charAt(start - 1))) start -= 1;
  return { word: line.slice(start, cursor.ch), from: CM.Pos(cursor.line, start), to: cursor };
}

function completeField(cm) {
  const { word, from, to } = nameBefore(cm);
  const lower = word.toLowerCase();
  const matches = FIELDS.filter((f) => f.name.toLowerCase().startsWith(lower));
  const inside = lower.length > 1 ? FIELDS.filter((f) => !matches.includes(f) && f.name.toLowerCase().includes(lower)) : [];
  const list = [...matches, ...inside].slice(0, 60).map((f) => ({
    text: f.name,
    displayText: `${f.name}  (${f.type}${f.derived === "yes" ? ", derived" : ""})`,
  }));
  return { list, from, to };
}

function inWhen(cm) {
  const state = cm.getTokenAt(cm.getCursor(), true).state;
  return Boolean(state && state.overlay && state.overlay.inWhen);
}

// ---------------------------------------------------------------------------- validation

const status = document.getElementById("check-status");
const problemsBox = document.getElementById("problems");
const examplesBox = document.getElementById("examples");
const csrf = document.querySelector('meta[name="csrf-token"]').content;
const path = textarea.dataset.path;
const checkUrl = `/ui/rulesets/${textarea.dataset.version}/check`;

function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function where(p) {
  const prefix = p.file && p.file !== path ? `${p.file} ` : "";
  if (!p.line) return p.file || "the pack";
  return `${prefix}line ${p.line}${p.column ? `, column ${p.column}` : ""}`;
}

function tag(kind, text) {
  return element("span", `tag tag-${kind}`, text);
}

function showProblems(problems) {
  problemsBox.replaceChildren();
  if (problems.length === 0) {
    problemsBox.append(element("p", "ok", "No problems: the draft compiles."));
    return;
  }
  const list = element("ul", "problems");
  for (const p of problems) {
    const item = element("li", "problem");
    item.append(tag("error", "error"), " ", element("span", "where", where(p)), `: ${p.message}`);
    if (p.hint) item.append(" — ", element("span", "hint", `hint: ${p.hint}`));
    item.append(" ", element("span", "muted small", `(${p.code})`));
    list.append(item);
  }
  problemsBox.append(list);
}

function showExamples(report) {
  examplesBox.replaceChildren();
  if (report.problems.length > 0) {
    examplesBox.append(element("p", "muted", "The examples run once the draft has no problems."));
    return;
  }
  const failed = report.examples.failed;
  const passed = report.examples.passed;
  const summary = element("p", failed.length ? "error" : "ok");
  summary.append(
    tag(failed.length ? "fail" : "pass", failed.length ? "fail" : "pass"),
    ` ${passed} example${passed === 1 ? "" : "s"} passed${failed.length ? `, ${failed.length} failed` : ""}.`,
  );
  examplesBox.append(summary);
  if (failed.length) {
    const list = element("ul", "examples");
    for (const e of failed) {
      const item = element("li");
      const expected = e.expected === "hit" ? "fire" : "stay quiet";
      item.append(tag("fail", "fail"), " ", element("code", "", e.rule_id));
      item.append(`, expected to ${expected}, ${where(e)}: ${e.message}`);
      list.append(item);
    }
    examplesBox.append(list);
  }
}

function marker(cm, p, severity, message) {
  const line = Math.max(0, Math.min((p.line || 1) - 1, cm.lineCount() - 1));
  const ch = Math.max(0, (p.column || 1) - 1);
  const text = cm.getLine(line);
  const word = /^[A-Za-z0-9_."'>=<!]+/.exec(text.slice(ch));
  const end = word ? ch + word[0].length : Math.max(ch + 1, text.length);
  return { from: CM.Pos(line, ch), to: CM.Pos(line, end), severity, message };
}

let sequence = 0;

async function check(text, updateLinting, options, cm) {
  const mine = ++sequence;
  status.textContent = "Checking…";
  let report;
  try {
    const answer = await fetch(checkUrl, {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
      body: JSON.stringify({ path, source: text }),
      credentials: "same-origin",
    });
    report = await answer.json();
    if (!answer.ok) throw new Error(report.detail || `the check answered ${answer.status}`);
  } catch (error) {
    if (mine === sequence) status.textContent = `Could not check: ${error.message}`;
    return;
  }
  if (mine !== sequence) return; // a newer check is under way
  const own = report.problems.filter((p) => p.file === path || !p.file);
  const annotations = own.map((p) =>
    marker(cm, p, "error", `${p.message}${p.hint ? `\nhint: ${p.hint}` : ""}`),
  );
  for (const e of report.examples.failed.filter((f) => f.file === path)) {
    annotations.push(marker(cm, e, "warning", `example fails: ${e.message}`));
  }
  updateLinting(annotations);
  showProblems(report.problems);
  showExamples(report);
  const count = report.problems.length;
  status.textContent = count
    ? `${count} problem${count === 1 ? "" : "s"}`
    : "No problems";
}

// -------------------------------------------------------------------------------- editor

const editor = CM.fromTextArea(textarea, {
  mode: "assay-rule",
  lineNumbers: true,
  indentUnit: 2,
  tabSize: 2,
  indentWithTabs: false,
  lineWrapping: true,
  readOnly: editable ? false : true,
  screenReaderLabel: `Rule file ${path}`,
  gutters: editable ? ["CodeMirror-lint-markers", "CodeMirror-linenumbers"] : ["CodeMirror-linenumbers"],
  lint: editable ? { getAnnotations: check, async: true, delay: 400 } : false,
  extraKeys: {
    "Ctrl-Space": "autocomplete",
    Tab: (cm) => cm.execCommand(cm.somethingSelected() ? "indentMore" : "insertSoftTab"),
  },
  hintOptions: { hint: completeField, completeSingle: false },
});

if (editable) {
  editor.on("inputRead", (cm, change) => {
    if (cm.state.completionActive || change.origin !== "+input") return;
    if (!/^[A-Za-z_.]$/.test(change.text.join(""))) return;
    if (nameBefore(cm).word.length >= 2 && inWhen(cm)) cm.showHint();
  });
}
