"""The packaged extension (`.vscode/zixir.vsix`, built by `npm run ci` in `.vscode/`).

A `.vsix` is a zip: `extension/package.json` is the manifest VS Code reads, next to the files it
points at. These tests read the archive itself, so they fail when packaging drops or breaks a
part of the extension, and when the archive is older than the sources it was built from.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest

EXTENSION_DIR = Path(__file__).resolve().parents[2] / ".vscode"
VSIX = EXTENSION_DIR / "zixir.vsix"


@pytest.fixture(scope="module")
def vsix() -> zipfile.ZipFile:
    if not VSIX.exists():
        if shutil.which("npm") is None:
            pytest.skip("npm is not installed, so the extension was not packaged")
        pytest.fail(f"{VSIX} is missing: run `npm ci && npm run ci` in {EXTENSION_DIR}")
    with zipfile.ZipFile(VSIX) as archive:
        yield archive


def read_json(archive: zipfile.ZipFile, name: str) -> dict:
    return json.loads(archive.read(name).decode("utf-8"))


def test_manifest_matches_the_sources(vsix: zipfile.ZipFile) -> None:
    packaged = read_json(vsix, "extension/package.json")
    source = json.loads((EXTENSION_DIR / "package.json").read_text("utf-8"))
    assert packaged["name"] == source["name"] == "zixir"
    assert packaged["version"] == source["version"]
    assert packaged["contributes"] == source["contributes"], "the .vsix is stale: rebuild it"


def test_manifest_registers_language_grammar_commands_settings(vsix: zipfile.ZipFile) -> None:
    manifest = read_json(vsix, "extension/package.json")
    contributes = manifest["contributes"]
    (language,) = [lang for lang in contributes["languages"] if lang["id"] == "zixir"]
    assert set(language["extensions"]) == {".zx", ".zr", ".zixir"}
    assert _in_archive(vsix, language["configuration"])
    (grammar,) = contributes["grammars"]
    assert grammar["language"] == "zixir" and grammar["scopeName"] == "source.zixir"
    assert _in_archive(vsix, grammar["path"])
    commands = {c["command"]: c["title"] for c in contributes["commands"]}
    assert commands == {"zixir.runFile": "Run File", "zixir.restartServer": "Restart Language Server"}
    assert all(c["category"] == "Zixir" for c in contributes["commands"])
    settings = contributes["configuration"]["properties"]
    assert {"zixir.server.path", "zixir.pythonPath"} <= set(settings)
    assert "onLanguage:zixir" in manifest["activationEvents"]
    assert manifest["main"] == "./dist/extension.js"
    assert manifest["publisher"] and manifest["engines"]["vscode"]


def test_vsix_manifest_names_the_extension(vsix: zipfile.ZipFile) -> None:
    xml = vsix.read("extension.vsixmanifest").decode("utf-8")
    identity = re.search(r"<Identity\b[^>]*>", xml)
    assert identity is not None
    assert 'Id="zixir"' in identity.group(0) and 'Publisher="zixir"' in identity.group(0)


def test_grammar_is_the_source_grammar(vsix: zipfile.ZipFile) -> None:
    packaged = read_json(vsix, "extension/syntaxes/zixir.tmLanguage.json")
    source = json.loads((EXTENSION_DIR / "syntaxes" / "zixir.tmLanguage.json").read_text("utf-8"))
    assert packaged == source, "the .vsix is stale: rebuild it"
    assert packaged["scopeName"] == "source.zixir"
    for rule in ("comments", "strings", "numbers", "keywords", "operators", "invalid"):
        assert rule in packaged["repository"]


def test_language_configuration(vsix: zipfile.ZipFile) -> None:
    config = read_json(vsix, "extension/language-configuration.json")
    assert config["comments"]["lineComment"] == "#"
    assert ["{", "}"] in config["brackets"] and ["(", ")"] in config["brackets"]
    assert {"open": '"', "close": '"', "notIn": ["string", "comment"]} in config["autoClosingPairs"]
    assert config["onEnterRules"] and config["indentationRules"]


def test_bundled_client(vsix: zipfile.ZipFile, tmp_path: Path) -> None:
    names = vsix.namelist()
    assert "extension/dist/extension.js" in names
    assert not any("/node_modules/" in n or n.endswith(".ts") for n in names), names
    code = vsix.read("extension/dist/extension.js").decode("utf-8")
    # the client is bundled (vscode-languageclient inlined), only `vscode` stays external
    assert 'require("vscode")' in code
    assert "vscode-languageclient" not in re.findall(r'require\("([^"]+)"\)', code)
    for needle in ('"zixir.runFile"', '"zixir.restartServer"', '"lsp"', '"run"', '"-m"',
                   '"server.path"', '"pythonPath"', "Zixir Language Server"):
        assert needle in code, needle
    if shutil.which("node"):
        bundle = tmp_path / "extension.js"
        bundle.write_text(code, "utf-8")
        subprocess.run(["node", "--check", str(bundle)], check=True, timeout=60)


def _in_archive(vsix: zipfile.ZipFile, relative: str) -> bool:
    return "extension/" + relative.removeprefix("./") in vsix.namelist()
