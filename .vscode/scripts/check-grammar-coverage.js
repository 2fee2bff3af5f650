// Fails unless the grammar tests in test/grammar/ assert every scope the grammar can produce,
// and unless every keyword of the language (LANGUAGE.md section 1) is highlighted as one.
// vscode-tmgrammar-test checks that the assertions hold; this checks that none is missing.
"use strict";
const fs = require("fs");
const path = require("path");
const { loadGrammar, tokenize, GRAMMAR } = require("./textmate");

const KEYWORDS = [
  "let", "fn", "if", "then", "else", "match", "for", "in", "while", "break", "continue",
  "return", "true", "false", "nil", "and", "or", "not", "type", "import", "pub", "python",
  "try", "rescue",
];
const TESTS = path.join(__dirname, "..", "test", "grammar");

function grammarScopes(node, found = new Set()) {
  if (Array.isArray(node)) {
    node.forEach((n) => grammarScopes(n, found));
  } else if (node && typeof node === "object") {
    for (const [key, value] of Object.entries(node)) {
      if ((key === "name" || key === "contentName") && typeof value === "string") {
        value.split(/\s+/).forEach((s) => found.add(s));
      } else {
        grammarScopes(value, found);
      }
    }
  }
  return found;
}

function assertedScopes() {
  const found = new Set();
  for (const file of fs.readdirSync(TESTS).filter((f) => f.endsWith(".zx"))) {
    for (const line of fs.readFileSync(path.join(TESTS, file), "utf8").split("\n")) {
      const m = /^#\s*(?:\^+|<[-~]+)\s+(.*)$/.exec(line);
      if (!m) continue;
      const required = m[1].split(/\s+-\s+/)[0];
      required.split(/\s+/).filter(Boolean).forEach((s) => found.add(s));
    }
  }
  return found;
}

(async () => {
  const raw = JSON.parse(fs.readFileSync(GRAMMAR, "utf8"));
  delete raw.name; // the display name of the grammar, not a scope
  const scopes = grammarScopes(raw);
  const asserted = assertedScopes();
  const problems = [...scopes].filter((s) => !asserted.has(s)).map((s) => `scope never asserted by a grammar test: ${s}`);

  const grammar = await loadGrammar();
  for (const keyword of KEYWORDS) {
    const [tokens] = tokenize(grammar, keyword);
    const scopesOf = tokens.length === 1 ? tokens[0].scopes.slice(1) : [];
    const ok = scopesOf.some((s) => /^(keyword|storage|constant\.language)\./.test(s));
    if (!ok) problems.push(`keyword '${keyword}' is not highlighted as a keyword: ${JSON.stringify(tokens)}`);
  }
  if (problems.length) {
    problems.forEach((p) => console.error(p));
    process.exit(1);
  }
  console.log(`grammar coverage: ${scopes.size} scopes asserted, ${KEYWORDS.length} keywords highlighted`);
})().catch((err) => {
  console.error(err);
  process.exit(1);
});
