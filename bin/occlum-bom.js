#!/usr/bin/env node
import { main } from '../dist/cli/occlum-bom.js';

await main();
