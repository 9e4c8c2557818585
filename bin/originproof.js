#!/usr/bin/env node
// The `originproof` command as package.json's bin: a file git keeps executable, so that npx can run it however dist/
// was built (tsc writes dist/cli/main.js without the executable bit; test/cli/package-bin.test.ts).
import '../dist/cli/main.js';
