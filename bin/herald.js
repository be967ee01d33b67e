#!/usr/bin/env node
// Entry point: runs the compiled CLI (npm run build writes dist/).
await import('../dist/cli/main.js');
