#!/usr/bin/env node
import '../dist/cli/copy_bom.js';
