#!/usr/bin/env node
import { main } from '../dist/cli/generate_bom.js';

await main();
