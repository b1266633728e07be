/** A recurring time window (e.g. business hours) in a time zone, for auto-approval. */
export interface TimeWindow {
  /** Weekdays, lower-case three letters (mon … sun). */
  days: string[];
  /** "HH:MM", inclusive start and exclusive end, in `timezone`; an end before the start wraps midnight, equal ends mean all day. */
  from: string;
  to: string;
  /** IANA time zone (e.g. Europe/Berlin). */
  timezone: string;
}

export const WEEKDAYS = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"] as const;

const formats = new Map<string, Intl.DateTimeFormat>();

/** Whether `now` falls in the window; pure, the clock is passed in. */
export function withinWindow(now: Date, window: TimeWindow): boolean {
  let format = formats.get(window.timezone);
  if (!format) {
    format = new Intl.DateTimeFormat("en-US", {
      timeZone: window.timezone,
      weekday: "short",
      hour: "2-digit",
      minute: "2-digit",
      hourCycle: "h23",
    });
    formats.set(window.timezone, format);
  }
  const parts = Object.fromEntries(format.formatToParts(now).map((p) => [p.type, p.value]));
  const day = String(parts.weekday).slice(0, 3).toLowerCase();
  const minute = Number(parts.hour) * 60 + Number(parts.minute);
  const from = minutes(window.from);
  const to = minutes(window.to);
  if (from === to) return window.days.includes(day); // the whole day
  if (from < to) return window.days.includes(day) && minute >= from && minute < to;
  // Wraps midnight: the part after midnight belongs to the day the window started.
  if (minute >= from) return window.days.includes(day);
  const previous = WEEKDAYS[(WEEKDAYS.indexOf(day as (typeof WEEKDAYS)[number]) + 6) % 7] as string;
  return minute < to && window.days.includes(previous);
}

function minutes(hhmm: string): number {
  const [h, m] = hhmm.split(":").map(Number);
  return (h as number) * 60 + (m as number);
}
