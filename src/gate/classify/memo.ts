import { LRUCache } from "lru-cache";

/**
 * Classification cached by exact text: agents repeat the same statements and command lines.
 * Bounded by entry count; texts longer than `maxLength` are classified every time.
 */
export function memoByText<R extends object>(
  classify: (text: string) => R,
  options: { max?: number; maxLength?: number } = {},
): { classify(text: string): R; readonly cached: number } {
  const max = options.max ?? 10_000;
  const maxLength = options.maxLength ?? 16_384;
  const cache = max > 0 ? new LRUCache<string, R>({ max }) : undefined;
  return {
    classify(text) {
      const hit = cache?.get(text);
      if (hit) return hit;
      const result = classify(text);
      if (text.length <= maxLength) cache?.set(text, result);
      return result;
    },
    get cached() {
      return cache?.size ?? 0;
    },
  };
}
