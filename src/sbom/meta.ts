// What both formats record about the document itself: when, by which tool, and a unique id
// that is still reproducible (the same image and time give the same document).
import { createHash } from 'node:crypto';
import { Exit, UserError } from '../errors.js';
import { packageJson } from '../resources.js';

export interface DocumentMeta {
  /** UTC, whole seconds: `2024-01-02T03:04:05Z` (SPDX allows no fraction). */
  timestamp: string;
  tool: { name: string; version: string };
}

/**
 * Now, or SOURCE_DATE_EPOCH when it is set (reproducible-builds.org: a decimal count of
 * seconds since the epoch; anything else is an error rather than a silently different time).
 */
export function documentTime(env: NodeJS.ProcessEnv = process.env, now = new Date()): string {
  const sde = env.SOURCE_DATE_EPOCH;
  let date = now;
  if (sde !== undefined && sde !== '') {
    if (!/^\d+$/.test(sde) || !Number.isSafeInteger(Number(sde)) || Number(sde) > 253402300799) {
      throw new UserError(`SOURCE_DATE_EPOCH must be a number of seconds, found ${JSON.stringify(sde)}`, Exit.usage);
    }
    date = new Date(Number(sde) * 1000);
  }
  return `${date.toISOString().slice(0, 19)}Z`;
}

/** This package's name and version. */
export function toolInfo(): { name: string; version: string } {
  const { name, version } = packageJson();
  return { name, version };
}

const URL_NAMESPACE = Buffer.from('6ba7b8119dad11d180b400c04fd430c8', 'hex');

/** An RFC 4122 version-5 (name-based, SHA-1) UUID of `name` in the URL namespace. */
export function uuidV5(name: string): string {
  const h = createHash('sha1').update(URL_NAMESPACE).update(name, 'utf8').digest();
  h[6] = (h[6]! & 0x0f) | 0x50;
  h[8] = (h[8]! & 0x3f) | 0x80;
  const hex = h.subarray(0, 16).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
