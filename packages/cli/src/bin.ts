#!/usr/bin/env node
import { runCli } from './program.js';

// The SDK's notice about its future Node.js requirement is for library authors, not for every
// command a user types; it stays visible to anyone who sets the variable to "false".
process.env['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'] ??= 'true';

void runCli(process.argv).then((exitCode) => {
  process.exitCode = exitCode;
});
