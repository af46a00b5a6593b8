// Logging on stderr, levelled by OCCLUM_LOG_LEVEL as upstream (env_logger) does.
// Default: errors, plus the warnings the spec requires at the default level.
const LEVELS = ['off', 'error', 'warn', 'info', 'debug', 'trace'] as const;
export type Level = (typeof LEVELS)[number];

function levelFromEnv(value: string | undefined): number {
  const i = LEVELS.indexOf((value ?? '').trim().toLowerCase() as Level);
  // Unset or unknown: show warnings, since upstream's own warnings (non-empty root,
  // conflicts, missing libraries of copied trees) must be seen by default.
  return i < 0 ? LEVELS.indexOf('warn') : i;
}

const threshold = levelFromEnv(process.env.OCCLUM_LOG_LEVEL);

export function enabled(level: Level): boolean {
  return LEVELS.indexOf(level) <= threshold;
}

function emit(level: Level, message: string): void {
  if (enabled(level)) process.stderr.write(`[${level.toUpperCase()}] ${message}\n`);
}

export const log = {
  error: (m: string) => emit('error', m),
  warn: (m: string) => emit('warn', m),
  info: (m: string) => emit('info', m),
  debug: (m: string) => emit('debug', m),
  trace: (m: string) => emit('trace', m),
};
