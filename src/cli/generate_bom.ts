import { notImplemented } from './main.js';

notImplemented('generate_bom');
