// The version every command shows with --version: package.json's, the one npm publishes.
import { packageJson } from './resources.js';

export const VERSION = packageJson().version;
