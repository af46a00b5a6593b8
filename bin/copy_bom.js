#!/usr/bin/env node
import { main } from '../dist/cli/copy_bom.js';

await main();
