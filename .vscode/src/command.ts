// Which command line runs `zixir <subcommand...>`, from the extension's settings. Kept free of
// the `vscode` module so that it is unit-tested under plain Node (test/unit/command.test.ts).
import * as path from "path";

export interface ZixirSettings {
  /** zixir.server.path: a `zixir` executable */
  serverPath?: string;
  /** zixir.pythonPath: a Python that has the zixir package */
  pythonPath?: string;
}

export interface CommandLine {
  command: string;
  args: string[];
}

/**
 *   zixir.server.path  set -> <path> SUBCOMMAND...
 *   zixir.pythonPath   set -> <python> -m zixir SUBCOMMAND...
 *   neither            -> zixir SUBCOMMAND...   (looked up on PATH)
 */
export function zixirCommand(
  settings: ZixirSettings,
  subcommand: string[],
  home: string = process.env.HOME ?? "",
): CommandLine {
  const serverPath = (settings.serverPath ?? "").trim();
  const pythonPath = (settings.pythonPath ?? "").trim();
  if (serverPath) {
    return { command: expandHome(serverPath, home), args: [...subcommand] };
  }
  if (pythonPath) {
    return { command: expandHome(pythonPath, home), args: ["-m", "zixir", ...subcommand] };
  }
  return { command: "zixir", args: [...subcommand] };
}

export function expandHome(p: string, home: string): string {
  if (p === "~" || p.startsWith("~/")) {
    return path.join(home, p.slice(1));
  }
  return p;
}

/** `zixir run [extra...] FILE` */
export function runCommand(settings: ZixirSettings, extra: string[], file: string): CommandLine {
  return zixirCommand(settings, ["run", ...extra, file]);
}
