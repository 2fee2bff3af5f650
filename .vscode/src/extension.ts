// The Zixir extension's client side: starts the language server (`zixir lsp` over stdio),
// contributes the commands "Zixir: Run File" and "Zixir: Restart Language Server", shows the
// server's state in the status bar (status.ts; a click restarts the server), and the "zixir"
// debugger ("Run and Debug" runs `zixir debug`, a Debug Adapter Protocol server on stdio).
//
// Which executable runs is decided by `zixirCommand` (command.ts) from two settings:
//   zixir.server.path  set -> <path> lsp            (a `zixir` executable)
//   zixir.pythonPath   set -> <python> -m zixir lsp (an interpreter that has zixir installed)
//   neither            -> zixir lsp                 (looked up on PATH)
import * as cp from "child_process";
import * as path from "path";
import * as vscode from "vscode";
import {
  LanguageClient,
  LanguageClientOptions,
  ServerOptions,
  State,
  TransportKind,
} from "vscode-languageclient/node";
import { runCommand, zixirCommand, ZixirSettings } from "./command";
import { ServerState, statusText } from "./status";

const LANGUAGE_ID = "zixir";

let client: LanguageClient | undefined;
let output: vscode.OutputChannel | undefined;
let running: cp.ChildProcess | undefined;
let statusItem: vscode.StatusBarItem | undefined;

function showState(state: ServerState, detail?: string): void {
  if (!statusItem) {
    return;
  }
  const { text, tooltip, isError } = statusText(state, detail);
  statusItem.text = text;
  statusItem.tooltip = tooltip;
  statusItem.backgroundColor = isError
    ? new vscode.ThemeColor("statusBarItem.errorBackground")
    : undefined;
  statusItem.show();
}

function settings(config: vscode.WorkspaceConfiguration): ZixirSettings {
  return {
    serverPath: config.get<string>("server.path"),
    pythonPath: config.get<string>("pythonPath"),
  };
}

function createClient(): LanguageClient {
  const config = vscode.workspace.getConfiguration("zixir");
  const { command, args } = zixirCommand(settings(config), ["lsp"]);
  const serverOptions: ServerOptions = {
    run: { command, args, transport: TransportKind.stdio },
    debug: { command, args, transport: TransportKind.stdio },
  };
  const clientOptions: LanguageClientOptions = {
    documentSelector: [
      { scheme: "file", language: LANGUAGE_ID },
      { scheme: "untitled", language: LANGUAGE_ID },
    ],
  };
  return new LanguageClient("zixir", "Zixir Language Server", serverOptions, clientOptions);
}

function getOutput(): vscode.OutputChannel {
  if (!output) {
    output = vscode.window.createOutputChannel("Zixir");
  }
  return output;
}

async function startClient(): Promise<LanguageClient> {
  const started = createClient();
  client = started;
  started.onDidChangeState((event) => {
    if (client !== started) {
      return; // a client being replaced by a restart
    }
    if (event.newState === State.Starting) {
      showState("starting");
    } else if (event.newState === State.Running) {
      showState("running");
    } else {
      showState("stopped");
    }
  });
  showState("starting");
  try {
    await started.start();
  } catch (err) {
    const { command, args } = zixirCommand(settings(vscode.workspace.getConfiguration("zixir")), ["lsp"]);
    if (client === started) {
      showState("error", String(err));
    }
    void vscode.window.showErrorMessage(
      `Zixir: could not start the language server (${[command, ...args].join(" ")}): ${String(err)}. ` +
        "Set zixir.server.path or zixir.pythonPath.",
    );
  }
  return started;
}

async function restartServer(): Promise<void> {
  if (client) {
    const old = client;
    client = undefined;
    try {
      await old.stop(5000);
    } catch {
      // a server that already died cannot be stopped; a fresh one starts below anyway
    }
  }
  const started = await startClient();
  if (started.isRunning()) {
    void vscode.window.setStatusBarMessage("Zixir language server restarted", 3000);
  }
}

async function runFile(uri?: vscode.Uri): Promise<void> {
  const editor = vscode.window.activeTextEditor;
  const document = uri
    ? await vscode.workspace.openTextDocument(uri)
    : editor?.document;
  if (!document || document.languageId !== LANGUAGE_ID) {
    void vscode.window.showWarningMessage("Zixir: open a Zixir file (.zx) to run it.");
    return;
  }
  if (document.isUntitled) {
    void vscode.window.showWarningMessage("Zixir: save the file before running it.");
    return;
  }
  if (document.isDirty && !(await document.save())) {
    return;
  }
  const out = getOutput();
  out.clear();
  out.show(true);
  if (running && running.exitCode === null) {
    running.kill();
  }
  const config = vscode.workspace.getConfiguration("zixir", document.uri);
  const extra = config.get<string[]>("run.arguments") ?? [];
  const file = document.uri.fsPath;
  const { command, args } = runCommand(settings(config), extra, file);
  out.appendLine(`$ ${[command, ...args].join(" ")}`);
  const started = Date.now();
  const child = cp.spawn(command, args, {
    cwd: path.dirname(file),
    env: process.env,
  });
  running = child;
  child.stdout?.on("data", (chunk: Buffer) => out.append(chunk.toString()));
  child.stderr?.on("data", (chunk: Buffer) => out.append(chunk.toString()));
  child.on("error", (err) => {
    out.appendLine(`[could not run ${command}: ${err.message}]`);
  });
  child.on("close", (code, signal) => {
    const seconds = ((Date.now() - started) / 1000).toFixed(2);
    const how = signal ? `killed by ${signal}` : `exit code ${code}`;
    out.appendLine(`[${how} after ${seconds} s]`);
    if (running === child) {
      running = undefined;
    }
  });
}

/** Starts `zixir debug` with the same executable settings as the language server. */
class ZixirDebugAdapterFactory implements vscode.DebugAdapterDescriptorFactory {
  createDebugAdapterDescriptor(
    session: vscode.DebugSession,
  ): vscode.ProviderResult<vscode.DebugAdapterDescriptor> {
    const config = vscode.workspace.getConfiguration("zixir", session.workspaceFolder?.uri);
    const { command, args } = zixirCommand(settings(config), ["debug"]);
    return new vscode.DebugAdapterExecutable(command, args);
  }
}

/** F5 without a launch.json: debug the Zixir file in the active editor. */
class ZixirDebugConfigurationProvider implements vscode.DebugConfigurationProvider {
  resolveDebugConfiguration(
    _folder: vscode.WorkspaceFolder | undefined,
    config: vscode.DebugConfiguration,
  ): vscode.ProviderResult<vscode.DebugConfiguration> {
    if (!config.type && !config.request && !config.name) {
      const document = vscode.window.activeTextEditor?.document;
      if (document?.languageId === LANGUAGE_ID && !document.isUntitled) {
        config.type = "zixir";
        config.request = "launch";
        config.name = "Debug Zixir file";
        config.program = document.uri.fsPath;
        config.cwd = path.dirname(document.uri.fsPath);
      }
    }
    if (!config.program) {
      void vscode.window.showErrorMessage("Zixir: open a saved .zx file to debug it.");
      return undefined;
    }
    return config;
  }
}

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  statusItem = vscode.window.createStatusBarItem("zixir.server", vscode.StatusBarAlignment.Right, 100);
  statusItem.name = "Zixir Language Server";
  statusItem.command = "zixir.restartServer";
  context.subscriptions.push(statusItem);
  context.subscriptions.push(
    vscode.debug.registerDebugAdapterDescriptorFactory("zixir", new ZixirDebugAdapterFactory()),
    vscode.debug.registerDebugConfigurationProvider("zixir", new ZixirDebugConfigurationProvider()),
    vscode.commands.registerCommand("zixir.runFile", runFile),
    vscode.commands.registerCommand("zixir.restartServer", restartServer),
    vscode.workspace.onDidChangeConfiguration((event) => {
      if (
        event.affectsConfiguration("zixir.server.path") ||
        event.affectsConfiguration("zixir.pythonPath")
      ) {
        void restartServer();
      }
    }),
  );
  await startClient();
}

export async function deactivate(): Promise<void> {
  if (running && running.exitCode === null) {
    running.kill();
  }
  if (client) {
    await client.stop();
    client = undefined;
  }
}
