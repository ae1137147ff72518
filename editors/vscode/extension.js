// The eqxdsl extension: .eqx highlighting comes from the grammar in package.json;
// diagnostics, hover and formatting come from the eqxdsl language server, started
// over stdio with the command in the `eqxdsl.command` setting (default `eqxdsl lsp`).
"use strict";

const vscode = require("vscode");
const { LanguageClient, TransportKind } = require("vscode-languageclient/node");

let client;

function activate(context) {
  const [command, ...args] = vscode.workspace.getConfiguration("eqxdsl").get("command");
  const server = { command, args, transport: TransportKind.stdio };
  client = new LanguageClient(
    "eqxdsl",
    "eqxdsl language server",
    { run: server, debug: server },
    {
      documentSelector: [{ scheme: "file", language: "eqx" }],
      synchronize: { fileEvents: vscode.workspace.createFileSystemWatcher("**/*.eqx") },
    },
  );
  context.subscriptions.push({ dispose: () => client && client.stop() });
  return client.start().catch((error) => {
    vscode.window.showWarningMessage(
      `eqxdsl: could not start \`${[command, ...args].join(" ")}\` (${error.message}); ` +
        "highlighting still works. Set `eqxdsl.command` to the eqxdsl of your environment.",
    );
  });
}

function deactivate() {
  return client ? client.stop() : undefined;
}

module.exports = { activate, deactivate };
