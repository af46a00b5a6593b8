#!/usr/bin/env node
import '../dist/cli/occlum-bom.js';
