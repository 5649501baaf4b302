/**
 * The API's data: a fixed product catalogue held in memory, so the example
 * needs no database of its own and its tests see exact results.
 */

/** One product of the catalogue. */
export interface Product {
  id: string;
  name: string;
  tags: readonly string[];
  priceCents: number;
}

/** The catalogue served by `GET /v1/products`. */
export const PRODUCTS: readonly Product[] = [
  { id: 'p-100', name: 'Espresso beans, 1 kg', tags: ['coffee', 'beans'], priceCents: 2_450 },
  { id: 'p-101', name: 'Filter coffee, 500 g', tags: ['coffee', 'ground'], priceCents: 1_190 },
  { id: 'p-200', name: 'Hand grinder', tags: ['coffee', 'grinder'], priceCents: 5_900 },
  { id: 'p-300', name: 'Green tea, 100 bags', tags: ['tea'], priceCents: 890 },
  { id: 'p-301', name: 'Earl Grey, loose leaf', tags: ['tea', 'black tea'], priceCents: 1_250 },
  { id: 'p-400', name: 'Glass teapot', tags: ['tea', 'teapot'], priceCents: 3_400 },
];

/** The product with this id, or undefined. */
export function findProduct(id: string): Product | undefined {
  return PRODUCTS.find((product) => product.id === id);
}

/** Products whose name or tags contain the query (case-insensitive), in catalogue order. */
export function searchProducts(query: string): Product[] {
  const needle = query.trim().toLowerCase();
  if (needle === '') return [];
  return PRODUCTS.filter(
    (product) =>
      product.name.toLowerCase().includes(needle) || product.tags.some((tag) => tag.includes(needle)),
  );
}

/** A CSV export of the whole catalogue (the "expensive" call of this API). */
export function catalogCsv(): string {
  const lines = PRODUCTS.map(
    (product) => `${product.id},"${product.name}",${product.tags.join(';')},${product.priceCents}`,
  );
  return ['id,name,tags,price_cents', ...lines, ''].join('\n');
}
