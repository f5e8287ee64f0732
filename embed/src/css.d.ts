// build.mjs inlines `import css from './x.css'` as the minified stylesheet's text.
declare module '*.css' {
  const css: string;
  export default css;
}
