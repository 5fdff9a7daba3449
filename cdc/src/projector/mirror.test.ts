import { chooseKey, type MirrorColumn } from './mirror';

const col = (name: string, notNull = true): MirrorColumn => ({ name, type: 'integer', notNull });
const index = (name: string, columns: string[], primary = false) => ({ name, columns, primary });

describe("the mirror's key", () => {
  const columns = [col('a'), col('b'), col('c', false), col('d')];

  it('is the primary key when there is one, however wide', () => {
    // Narrowest first, as the catalog query orders them, but the primary key wins.
    expect(chooseKey('s.t', columns, [index('t_pkey', ['a', 'b', 'd'], true), index('t_d_key', ['d'])], undefined)).toEqual(['a', 'b', 'd']);
  });

  it('is else the first unique index whose columns are all NOT NULL (a nullable unique column can hold many NULLs)', () => {
    expect(chooseKey('s.t', columns, [index('t_c_key', ['c']), index('t_a_b_key', ['a', 'b']), index('t_a_d_key', ['a', 'd'])], undefined)).toEqual(['a', 'b']);
  });

  it('is refused, saying what to do, when nothing identifies a row', () => {
    expect(() => chooseKey('s.t', columns, [index('t_c_key', ['c'])], undefined)).toThrow(
      expect.objectContaining({ code: 'STR_ERR_CDC_TABLE_UNSUITABLE', message: expect.stringContaining('add a primary key') }),
    );
  });

  it('may be configured for a table that has none, with columns the table has', () => {
    expect(chooseKey('s.t', columns, [], ['d', 'a'])).toEqual(['d', 'a']);
    expect(() => chooseKey('s.t', columns, [], ['a', 'e'])).toThrow('the key configured for s.t names columns the table does not have: e (its columns: a, b, c, d)');
    expect(() => chooseKey('s.t', columns, [], [])).toThrow('the key configured for s.t names no column');
  });

  it('is the configured one even where the table has a key (one the monolith adds later must not change which rows are one)', () => {
    expect(chooseKey('s.t', columns, [index('t_pkey', ['a'], true)], ['b', 'd'])).toEqual(['b', 'd']);
  });
});
