// Renders a Zixir file as an editor would show it: highlighted by the real grammar (through
// vscode-textmate, as VS Code does) and with the language server's diagnostics underlined.
//   node scripts/render-screenshot.js FILE.zx DIAGNOSTICS.json OUT.html
// DIAGNOSTICS.json: [{line, column, end_line, end_column, message, severity}] (1-based).
// scripts/screenshot.sh produces it with the server's own analysis and turns the page into a PNG.
"use strict";
const fs = require("fs");
const { loadGrammar, tokenize } = require("./textmate");

// colours by scope prefix, most specific first (a dark theme in the spirit of VS Code's)
const THEME = [
  ["invalid", "#f44747"],
  ["comment", "#6a9955"],
  ["constant.character.escape", "#d7ba7d"],
  ["string", "#ce9178"],
  ["constant.numeric", "#b5cea8"],
  ["constant.language", "#569cd6"],
  ["variable.language", "#569cd6"],
  ["keyword.operator.logical", "#569cd6"],
  ["keyword.operator", "#d4d4d4"],
  ["keyword.control", "#c586c0"],
  ["keyword.other", "#c586c0"],
  ["storage", "#569cd6"],
  ["support.type", "#4ec9b0"],
  ["entity.name.type", "#4ec9b0"],
  ["entity.name.namespace", "#4ec9b0"],
  ["support.function", "#dcdcaa"],
  ["entity.name.function", "#dcdcaa"],
  ["variable.parameter", "#9cdcfe"],
  ["variable", "#9cdcfe"],
  ["support.variable", "#9cdcfe"],
  ["punctuation", "#d4d4d4"],
];

function colourOf(scopes) {
  for (let i = scopes.length - 1; i >= 0; i--) {
    for (const [prefix, colour] of THEME) {
      if (scopes[i] === prefix || scopes[i].startsWith(prefix + ".")) return colour;
    }
  }
  return "#d4d4d4";
}

const escape = (s) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

function renderLine(tokens, lineNo, diagnostics) {
  // split tokens at diagnostic boundaries so the squiggle covers exactly the range
  const marks = diagnostics.filter((d) => d.line === lineNo);
  let column = 1;
  let html = "";
  for (const token of tokens) {
    const colour = colourOf(token.scopes);
    for (const ch of Array.from(token.text)) {
      const under = marks.some((d) => column >= d.column && column < d.end_column);
      const cls = under ? ' class="squiggle"' : "";
      html += `<span style="color:${colour}"${cls}>${escape(ch)}</span>`;
      column += 1;
    }
  }
  return html || " ";
}

(async () => {
  const [file, diagnosticsFile, out] = process.argv.slice(2);
  const text = fs.readFileSync(file, "utf8").replace(/\n$/, "");
  const diagnostics = JSON.parse(fs.readFileSync(diagnosticsFile, "utf8"));
  const grammar = await loadGrammar();
  const lines = tokenize(grammar, text);
  const rows = lines.map((tokens, i) => {
    const n = i + 1;
    return `<div class="row"><span class="gutter">${n}</span><span class="code">${renderLine(tokens, n, diagnostics)}</span></div>`;
  });
  const first = diagnostics[0];
  const hover = first
    ? `<div class="hover" style="top:${10 + (first.line - 1) * 20 - 54}px;left:${54 + (first.column - 1) * 8.4}px">
         <div class="msg"><span class="err">error</span> ${escape(first.message)}</div>
         <div class="src">zixir ${escape(first.source || "check")} · line ${first.line}, column ${first.column}</div>
       </div>`
    : "";
  const problems = diagnostics
    .map((d) => `<div class="problem"><span class="icon">⊗</span> ${escape(d.message)} <span class="pos">[Ln ${d.line}, Col ${d.column}]</span></div>`)
    .join("");
  const name = file.split("/").pop();
  fs.writeFileSync(out, `<!doctype html><html><head><meta charset="utf-8"><style>
    body { margin:0; background:#1e1e1e; font-family:"DejaVu Sans Mono",monospace; font-size:14px; }
    .tabs { background:#252526; color:#fff; padding:8px 14px; font-family:"DejaVu Sans",sans-serif; font-size:13px; }
    .tabs span { border-bottom:1px solid #f14c4c; padding-bottom:6px; }
    .editor { position:relative; padding:10px 0; }
    .row { height:20px; line-height:20px; white-space:pre; }
    .gutter { display:inline-block; width:36px; text-align:right; color:#858585; margin-right:18px; }
    .squiggle { text-decoration: underline wavy #f14c4c; text-underline-offset:3px; }
    .hover { position:absolute; background:#252526; border:1px solid #454545; padding:6px 10px; color:#ccc;
             font-family:"DejaVu Sans",sans-serif; font-size:13px; box-shadow:0 2px 8px #000; }
    .hover .err { color:#f14c4c; font-weight:bold; } .hover .src { color:#888; font-size:12px; margin-top:3px; }
    .panel { border-top:1px solid #414141; background:#1e1e1e; color:#ccc; padding:6px 14px; font-family:"DejaVu Sans",sans-serif; font-size:13px; }
    .panel .title { text-transform:uppercase; font-size:11px; color:#e7e7e7; margin-bottom:4px; }
    .problem .icon { color:#f14c4c; } .problem .pos { color:#888; }
  </style></head><body>
  <div class="tabs"><span>${escape(name)}</span></div>
  <div class="editor">${rows.join("\n")}${hover}</div>
  <div class="panel"><div class="title">Problems ${diagnostics.length}</div>${problems}</div>
  </body></html>`);
})().catch((err) => {
  console.error(err);
  process.exit(1);
});
