// Loads the Zixir grammar with vscode-textmate + vscode-oniguruma (the engine VS Code uses) and
// tokenizes text. Used by the grammar coverage check and by the screenshot renderer;
// `node scripts/textmate.js FILE` prints every token with its scopes.
"use strict";
const fs = require("fs");
const path = require("path");
const vsctm = require("vscode-textmate");
const oniguruma = require("vscode-oniguruma");

const GRAMMAR = path.join(__dirname, "..", "syntaxes", "zixir.tmLanguage.json");

async function loadGrammar() {
  const wasm = fs.readFileSync(require.resolve("vscode-oniguruma/release/onig.wasm"));
  await oniguruma.loadWASM(wasm.buffer.slice(wasm.byteOffset, wasm.byteOffset + wasm.byteLength));
  const registry = new vsctm.Registry({
    onigLib: Promise.resolve({
      createOnigScanner: (patterns) => new oniguruma.OnigScanner(patterns),
      createOnigString: (s) => new oniguruma.OnigString(s),
    }),
    loadGrammar: async (scopeName) => {
      if (scopeName !== "source.zixir") return null;
      const text = fs.readFileSync(GRAMMAR, "utf8");
      return vsctm.parseRawGrammar(text, GRAMMAR);
    },
  });
  return registry.loadGrammar("source.zixir");
}

/** Tokenizes `text` line by line: [[{text, scopes}]] */
function tokenize(grammar, text) {
  let state = vsctm.INITIAL;
  const lines = [];
  for (const line of text.split(/\r?\n/)) {
    const result = grammar.tokenizeLine(line, state);
    lines.push(
      result.tokens.map((t) => ({ text: line.slice(t.startIndex, t.endIndex), scopes: t.scopes })),
    );
    state = result.ruleStack;
  }
  return lines;
}

module.exports = { loadGrammar, tokenize, GRAMMAR };

if (require.main === module) {
  (async () => {
    const grammar = await loadGrammar();
    const text = fs.readFileSync(process.argv[2], "utf8");
    tokenize(grammar, text).forEach((tokens, i) => {
      for (const t of tokens) {
        if (t.text.trim() === "") continue;
        console.log(`${i + 1}\t${JSON.stringify(t.text)}\t${t.scopes.slice(1).join(" ")}`);
      }
    });
  })();
}
