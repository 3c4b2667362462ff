/**
 * Runs `task` over `items` with at most `width` in flight and yields results in input order.
 * Finished results are handed on as soon as their turn comes, so memory holds at most `width` of them.
 */
export async function* mapInOrder<I, O>(
  items: Iterable<I>,
  width: number,
  task: (item: I) => Promise<O>,
): AsyncGenerator<O> {
  const iterator = items[Symbol.iterator]();
  const window: Promise<O>[] = [];
  const refill = () => {
    while (window.length < width) {
      const next = iterator.next();
      if (next.done) return;
      const promise = task(next.value);
      promise.catch(() => undefined);
      window.push(promise);
    }
  };
  refill();
  while (window.length > 0) {
    const result = await (window.shift() as Promise<O>);
    refill();
    yield result;
  }
}
