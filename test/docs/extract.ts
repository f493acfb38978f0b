// Extracts the runnable examples from README.md and docs/*.md, for the docs runner
// (test/docs/run.ts) and its host test (test/85.docs.test.ts). See run.ts for the
// fence syntax.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Script } from 'node:vm';

/** Fence languages that are extracted and run. */
export const PROGRAM_LANGS = ['js', 'mjs', 'ts'] as const;
export type ProgramLang = (typeof PROGRAM_LANGS)[number];
/** Languages that would be JavaScript or TypeScript but are not extracted: refused, so nothing hides. */
const ALIASES = new Set(['javascript', 'node', 'cjs', 'jsx', 'typescript', 'tsx', 'mts', 'cts']);
const EXT: Record<ProgramLang, RegExp> = { js: /\.c?js$/, mjs: /\.mjs$/, ts: /\.ts$/ };

export interface DocBlock {
  /** The markdown file, relative to the repository root. */
  doc: string;
  /** 1-based line of the opening fence. */
  line: number;
  lang: ProgramLang;
  info: string;
  /** `vm`: needs a real kernel (udmabuf, dma-heap, vgem, vivid): runs in the QEMU guest. */
  vm: boolean;
  /** `file=name`: one file of a multi-file program. */
  file?: string;
  /** `run`: the file of a multi-file program that is started. */
  run: boolean;
  /** Headings before it: a multi-file program stays within one section. */
  section: number;
  code: string;
}

export interface DocProgram {
  /** Directory name under .docs-tmp, e.g. `readme-301`. */
  id: string;
  doc: string;
  /** Line of its first block. */
  line: number;
  vm: boolean;
  ts: boolean;
  files: Array<{ name: string; line: number; lang: ProgramLang; code: string }>;
  /** The file node starts (for TypeScript: the compiled .js). */
  main: string;
}

export interface Extracted {
  blocks: DocBlock[];
  programs: DocProgram[];
  /** Fenced blocks in other languages (text, sh, …): never run. */
  others: number;
  /** `doc:line: what is wrong`; the runner refuses to run while any are left. */
  problems: string[];
}

/** README.md and docs/*.md, relative to root. */
export function docFiles(root: string): string[] {
  let docs: string[] = [];
  try {
    docs = readdirSync(join(root, 'docs'))
      .filter((f) => f.endsWith('.md'))
      .sort()
      .map((f) => `docs/${f}`);
  } catch {
    // no docs/ folder
  }
  return ['README.md', ...docs];
}

interface Fence {
  line: number;
  info: string;
  code: string;
  section: number;
}

/** Every fenced code block (``` or ~~~, indented up to 3 spaces) of a markdown text. */
export function fences(markdown: string): Fence[] {
  const lines = markdown.split('\n');
  const out: Fence[] = [];
  let section = 0;
  for (let i = 0; i < lines.length; i++) {
    if (/^ {0,3}#{1,6}(\s|$)/.test(lines[i])) section++;
    const open = /^( {0,3})(`{3,}|~{3,})\s*([^`]*)$/.exec(lines[i]);
    if (!open) continue;
    const [, indent, marker, info] = open;
    const body: string[] = [];
    let j = i + 1;
    for (; j < lines.length; j++) {
      const close = /^ {0,3}(`{3,}|~{3,})\s*$/.exec(lines[j]);
      if (close && close[1][0] === marker[0] && close[1].length >= marker.length) break;
      body.push(lines[j].startsWith(indent) ? lines[j].slice(indent.length) : lines[j].trimStart());
    }
    out.push({ line: i + 1, info: info.trim(), code: body.join('\n') + '\n', section });
    i = j;
  }
  return out;
}

/** The blocks, programs and problems of one markdown text. */
export function extract(markdown: string, doc: string): Extracted {
  const problems: string[] = [];
  const blocks: DocBlock[] = [];
  let others = 0;
  for (const f of fences(markdown)) {
    const [lang = '', ...attrs] = f.info.split(/\s+/).filter(Boolean);
    const where = `${doc}:${f.line}`;
    if (!(PROGRAM_LANGS as readonly string[]).includes(lang)) {
      if (ALIASES.has(lang.toLowerCase()))
        problems.push(`${where}: fence language '${lang}' is not extracted; use js, mjs or ts for a program, text for a fragment`);
      others++;
      continue;
    }
    const b: DocBlock = {
      doc,
      line: f.line,
      lang: lang as ProgramLang,
      info: f.info,
      vm: false,
      run: false,
      section: f.section,
      code: f.code,
    };
    for (const a of attrs) {
      if (a === 'vm') b.vm = true;
      else if (a === 'run') b.run = true;
      else if (a.startsWith('file=') && a.length > 5) b.file = a.slice(5);
      else problems.push(`${where}: unknown attribute '${a}' in '${f.info}' (known: vm, run, file=<name>)`);
    }
    if (b.file !== undefined && (!/^[\w.-]+$/.test(b.file) || !EXT[b.lang].test(b.file)))
      problems.push(`${where}: file=${b.file}: a plain file name ending as a '${b.lang}' file does`);
    if (b.run && b.file === undefined) problems.push(`${where}: 'run' marks one file of a multi-file program; add file=<name>`);
    problems.push(...lint(b));
    blocks.push(b);
  }
  return { blocks, programs: group(blocks, problems), others, problems };
}

/** Consecutive `file=` blocks of one section form one program; a heading or a block without file= ends it. */
function group(blocks: DocBlock[], problems: string[]): DocProgram[] {
  const programs: DocProgram[] = [];
  const ext: Record<ProgramLang, string> = { js: 'js', mjs: 'mjs', ts: 'ts' };
  for (let i = 0; i < blocks.length; i++) {
    const first = blocks[i];
    const members = [first];
    if (first.file !== undefined)
      while (blocks[i + 1]?.file !== undefined && blocks[i + 1].section === first.section) members.push(blocks[++i]);
    const files = members.map((b) => ({ name: b.file ?? `example.${ext[b.lang]}`, line: b.line, lang: b.lang, code: b.code }));
    const where = `${first.doc}:${first.line}`;
    let main = files[0].name;
    if (first.file !== undefined) {
      const runs = members.filter((b) => b.run);
      if (runs.length !== 1)
        problems.push(
          `${where}: a multi-file program (${files.map((f) => f.name).join(', ')}) needs exactly one 'run' file, has ${runs.length}`,
        );
      else main = runs[0].file!;
      const names = files.map((f) => f.name);
      if (new Set(names).size !== names.length) problems.push(`${where}: the same file name twice in one program (${names.join(', ')})`);
    }
    programs.push({
      id: `${first.doc.replace(/^.*\//, '').replace(/\.md$/i, '').toLowerCase()}-${first.line}`,
      doc: first.doc,
      line: first.line,
      vm: members.some((b) => b.vm),
      ts: members.some((b) => b.lang === 'ts'),
      files,
      main: main.replace(/\.ts$/, '.js'),
    });
  }
  return programs;
}

/** What makes a block not a complete program on Node 20 (cheap checks, no run). */
export function lint(b: DocBlock): string[] {
  const where = `${b.doc}:${b.line}`;
  const out: string[] = [];
  if (!/\brequire\(\s*['"]dmabuf['"]\s*\)|\bfrom\s+['"]dmabuf['"]/.test(b.code))
    out.push(`${where}: not a program: no require('dmabuf') or import from 'dmabuf' (a fragment gets a fence language such as text)`);
  if (b.lang === 'js') {
    if (/^\s*(await\s+)?using\s+[\w$]+\s*=/m.test(b.code))
      out.push(`${where}: 'using' is a SyntaxError in JavaScript on Node 20; use TypeScript (ts) or close()/end() yourself`);
    else if (/^\s*(import|export)\s/m.test(b.code)) out.push(`${where}: ESM syntax in a js block; use mjs, or require()`);
    else {
      try {
        // As Node wraps a CommonJS module: catches top-level await and for await.
        new Script(`(function (exports, require, module, __filename, __dirname) {${b.code}\n})`, { filename: where });
      } catch (err) {
        out.push(`${where}: not valid CommonJS on this Node: ${(err as Error).message}`);
      }
    }
  }
  return out;
}

/** Everything under root's README.md and docs/*.md. */
export function extractDocs(root: string): Extracted {
  const all: Extracted = { blocks: [], programs: [], others: 0, problems: [] };
  for (const doc of docFiles(root)) {
    const e = extract(readFileSync(join(root, doc), 'utf8'), doc);
    all.blocks.push(...e.blocks);
    all.programs.push(...e.programs);
    all.others += e.others;
    all.problems.push(...e.problems);
  }
  return all;
}
