#!/usr/bin/env node
// Thin entry: everything lives in the compiled CLI (npm install builds it via the prepare script).
import { main } from '../dist/cli/main.js';

process.exitCode = await main(process.argv);
