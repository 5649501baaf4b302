#!/usr/bin/env node
import { runCli } from './program.js';

/** How long a finished command waits for open handles to close before it exits anyway. */
const EXIT_GRACE_MS = 1000;

// The SDK's notice about its future Node.js requirement is for library authors, not for every
// command a user types; it stays visible to anyone who sets the variable to "false".
process.env['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'] ??= 'true';

void runCli(process.argv).then((exitCode) => {
  process.exitCode = exitCode;
  // The command is done: a socket a library left open (to an endpoint that never answers) must not
  // keep the process alive. Unreferenced, so a process with nothing left open exits at once.
  setTimeout(() => process.exit(exitCode), EXIT_GRACE_MS).unref();
});
