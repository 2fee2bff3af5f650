import * as assert from "node:assert/strict";
import { test } from "node:test";
import { statusText } from "../../src/status";

test("each server state has its own text and a restart hint", () => {
  const states = ["starting", "running", "stopped", "error"] as const;
  const texts = states.map((s) => statusText(s).text);
  assert.equal(new Set(texts).size, states.length);
  for (const state of states) {
    const { text, tooltip } = statusText(state);
    assert.ok(text.endsWith(`Zixir: ${state}`), text);
    assert.match(tooltip, /Click to restart/);
  }
});

test("only a stopped or failed server is shown as an error", () => {
  assert.equal(statusText("running").isError, false);
  assert.equal(statusText("starting").isError, false);
  assert.equal(statusText("stopped").isError, true);
  assert.equal(statusText("error", "spawn zixir ENOENT").isError, true);
  assert.match(statusText("error", "spawn zixir ENOENT").tooltip, /spawn zixir ENOENT/);
});
