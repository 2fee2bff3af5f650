import * as assert from "node:assert/strict";
import { test } from "node:test";
import { runCommand, zixirCommand } from "../../src/command";

test("zixir from PATH when nothing is configured", () => {
  assert.deepEqual(zixirCommand({}, ["lsp"]), { command: "zixir", args: ["lsp"] });
  assert.deepEqual(zixirCommand({ serverPath: "  ", pythonPath: "" }, ["lsp"]), {
    command: "zixir",
    args: ["lsp"],
  });
});

test("zixir.server.path runs that executable", () => {
  assert.deepEqual(zixirCommand({ serverPath: "/opt/zx/bin/zixir" }, ["lsp"]), {
    command: "/opt/zx/bin/zixir",
    args: ["lsp"],
  });
});

test("zixir.pythonPath runs python -m zixir", () => {
  assert.deepEqual(zixirCommand({ pythonPath: "/venv/bin/python" }, ["lsp"]), {
    command: "/venv/bin/python",
    args: ["-m", "zixir", "lsp"],
  });
});

test("zixir.server.path wins over zixir.pythonPath", () => {
  const line = zixirCommand({ serverPath: "/a/zixir", pythonPath: "/b/python" }, ["lsp"]);
  assert.equal(line.command, "/a/zixir");
  assert.deepEqual(line.args, ["lsp"]);
});

test("a leading ~ is the home directory", () => {
  assert.deepEqual(zixirCommand({ pythonPath: "~/venv/bin/python" }, ["lsp"], "/home/me"), {
    command: "/home/me/venv/bin/python",
    args: ["-m", "zixir", "lsp"],
  });
});

test("run passes extra arguments before the file", () => {
  assert.deepEqual(runCommand({ pythonPath: "py" }, ["--workers", "2"], "/w/a b.zx"), {
    command: "py",
    args: ["-m", "zixir", "run", "--workers", "2", "/w/a b.zx"],
  });
});
