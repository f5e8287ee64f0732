// npm run build: bundle src/ into ../cmp_server/static/cmp.js (minified, internal `_` names
// mangled, CSS minified and inlined, V8 compile hint first) and check the config placeholder
// is there exactly once; and bundle the admin's script (../admin/js/admin.js, with htmx) into
// ../admin/static/admin.js.
import * as esbuild from 'esbuild';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const out = resolve(here, '../cmp_server/static/cmp.js');
const PLACEHOLDER = '"__CMP_CONFIG__"';

/** Inline `import css from './x.css'` as a minified string. */
const cssText = {
  name: 'css-text',
  setup(build) {
    build.onLoad({ filter: /\.css$/ }, async (args) => {
      const min = await esbuild.transform(readFileSync(args.path, 'utf8'), {
        loader: 'css', minify: true, target: ['chrome73', 'safari13', 'firefox78'],
      });
      return { contents: min.code.trim(), loader: 'text' };
    });
  },
};

// V8's explicit compile hint (Chrome 136+, a comment elsewhere): compile every function eagerly,
// on the background thread that already parses the streamed script, instead of lazily on the
// page's main thread at each function's first call: most of the tag's synchronous run was
// lazy compilation. It must be the file's first line.
const COMPILE_HINT = '//# allFunctionsCalledOnLoad';

const result = await esbuild.build({
  entryPoints: [resolve(here, 'src/index.js')],
  banner: { js: COMPILE_HINT },
  bundle: true,
  minify: true,
  format: 'iife',
  target: 'es2017',
  mangleProps: /^_/,
  legalComments: 'none',
  charset: 'utf8',
  write: false,
  plugins: [cssText],
});
const code = result.outputFiles[0].text;
if (!code.startsWith(COMPILE_HINT + '\n')) {
  console.error('build: the compile hint must be the first line of the bundle');
  process.exit(1);
}
const count = code.split(PLACEHOLDER).length - 1;
if (count !== 1) {
  console.error(`build: ${PLACEHOLDER} appears ${count} times in the bundle, expected exactly 1`);
  process.exit(1);
}
mkdirSync(dirname(out), { recursive: true });
writeFileSync(out, code);
console.log(`build: ${out} ${code.length} B, ${gzipSync(code, { level: 9 }).length} B gzipped`);

// The admin's script: htmx and our small enhancements, served from the admin's own origin.
const adminOut = resolve(here, '../admin/static/admin.js');
const admin = await esbuild.build({
  entryPoints: [resolve(here, '../admin/js/admin.js')],
  bundle: true,
  minify: true,
  format: 'iife',
  target: 'es2020',
  legalComments: 'eof',
  charset: 'utf8',
  nodePaths: [resolve(here, 'node_modules')],
  write: false,
});
writeFileSync(adminOut, admin.outputFiles[0].text);
console.log(`build: ${adminOut} ${admin.outputFiles[0].text.length} B`);
