import { type Logger, pino } from "pino";

export type { Logger };

/** Structured JSON logs on stdout; the level comes from config (`log.level`). */
export function createLogger(level: string, instance: string): Logger {
  return pino({ level, base: { instance }, timestamp: pino.stdTimeFunctions.isoTime });
}
