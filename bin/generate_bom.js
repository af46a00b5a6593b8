#!/usr/bin/env node
import '../dist/cli/generate_bom.js';
