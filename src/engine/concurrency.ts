/** Run `work` over `items` with at most `limit` in flight; results keep the input order. */
export async function mapWithConcurrency<T, R>(items: T[], limit: number, work: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const index = next++;
      results[index] = await work(items[index] as T, index);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

/** mapWithConcurrency with the items `wide` picks run beside the others under their own limit. */
export async function mapInTwoLanes<T, R>(items: T[], limit: number, wide: (item: T) => boolean, wideLimit: number, work: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  const lanes: [number[], number[]] = [[], []];
  items.forEach((item, index) => lanes[wide(item) ? 1 : 0].push(index));
  const run = (index: number) => work(items[index] as T, index).then((result) => void (results[index] = result));
  await Promise.all([mapWithConcurrency(lanes[0], limit, run), mapWithConcurrency(lanes[1], wideLimit, run)]);
  return results;
}
