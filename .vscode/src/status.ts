// What the status-bar item says for each state of the language server. Kept free of the `vscode`
// module so that it is unit-tested under plain Node (test/unit/status.test.ts).

export type ServerState = "starting" | "running" | "stopped" | "error";

export interface StatusText {
  text: string;
  tooltip: string;
  isError: boolean;
}

const ICONS: Record<ServerState, string> = {
  starting: "$(sync~spin)",
  running: "$(check)",
  stopped: "$(circle-slash)",
  error: "$(error)",
};

export function statusText(state: ServerState, detail?: string): StatusText {
  const text = `${ICONS[state]} Zixir: ${state}`;
  const why = detail ? `: ${detail}` : "";
  const tooltip = `Zixir language server ${state}${why}. Click to restart it.`;
  return { text, tooltip, isError: state === "error" || state === "stopped" };
}
