//! The runtime's modules depend on each other in one direction only: no import cycle between the
//! source files of `src/` (tests aside), and no source file grows past the size we keep them at.
//!
//! The check reads the `use` declarations and the `crate::`/`super::`/`self::` paths of every
//! file and resolves each name to the file that defines it, following re-exports (`pub use`),
//! so `use crate::actor::ActorId` depends on `actor/id.rs`, not on `actor/mod.rs`. A re-export
//! is a dependency of the re-exporting file only when that file uses the name itself.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

/// Source files (tests aside) above this many lines fail the size check.
const MAX_LINES: usize = 600;

#[test]
fn no_import_cycle_between_runtime_modules() {
    let crate_src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let graph = Graph::read(&crate_src);
    let cycles = graph.cycles();
    assert!(
        graph.edges.values().map(BTreeSet::len).sum::<usize>() > 100,
        "the check found almost no dependencies: the parser is broken"
    );
    assert!(
        cycles.is_empty(),
        "import cycles between runtime modules:\n{}",
        cycles
            .iter()
            .map(|c| format!("  {}", c.join(" -> ")))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[test]
fn runtime_source_files_stay_small() {
    let crate_src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let graph = Graph::read(&crate_src);
    let big: Vec<String> = graph
        .files
        .iter()
        .filter(|(_, f)| f.lines > MAX_LINES)
        .map(|(name, f)| format!("{name}: {} lines", f.lines))
        .collect();
    assert!(
        big.is_empty(),
        "runtime source files over {MAX_LINES} lines (split them along a noun):\n  {}",
        big.join("\n  ")
    );
}

/// The checker itself finds a cycle, through a re-export, and ignores test modules.
#[test]
fn the_checker_finds_a_cycle_through_a_re_export() {
    let dir = tempfile::tempdir().expect("temp dir");
    let src = dir.path();
    let write = |name: &str, text: &str| {
        let path = src.join(name);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, text).expect("write");
    };
    write("lib.rs", "mod a;\nmod b;\n");
    write(
        "a/mod.rs",
        "mod inner;\npub use inner::Thing;\npub struct Other;\n",
    );
    write(
        "a/inner.rs",
        "use crate::b::Helper;\npub struct Thing(Helper);\n",
    );
    write(
        "b.rs",
        "pub struct Helper;\nfn f() -> crate::a::Thing { todo() }\n\
         #[cfg(test)]\nmod tests {\n    use crate::a::Other;\n}\n",
    );
    let graph = Graph::read(src);
    assert_eq!(
        graph.cycles(),
        vec![vec!["a/inner.rs".to_owned(), "b.rs".to_owned()]]
    );
    write(
        "b.rs",
        "pub struct Helper;\nfn f() -> crate::a::Other { todo() }\n",
    );
    let graph = Graph::read(src);
    assert!(graph.cycles().is_empty(), "{:?}", graph.edges);
    assert!(graph.edges["b.rs"].contains("a/mod.rs"));
}

#[derive(Debug)]
struct File {
    /// Module path: `a/b.rs` and `a/b/mod.rs` are `["a", "b"]`; `lib.rs` is `[]`.
    module: Vec<String>,
    /// Tokens of the file, comments, strings and `#[cfg(test)]` modules removed.
    tokens: Vec<String>,
    /// Names the file itself defines (types, functions, constants, macros, inline modules).
    defines: BTreeSet<String>,
    /// Its `use` declarations: (path, name it binds, whether it is `pub`).
    uses: Vec<(Vec<String>, String, bool)>,
    lines: usize,
}

#[derive(Debug)]
struct Graph {
    files: BTreeMap<String, File>,
    by_module: HashMap<Vec<String>, String>,
    edges: BTreeMap<String, BTreeSet<String>>,
}

impl Graph {
    fn read(src: &Path) -> Graph {
        let mut files = BTreeMap::new();
        for path in rust_files(src) {
            let rel = path
                .strip_prefix(src)
                .expect("under src")
                .to_string_lossy()
                .replace('\\', "/");
            if rel
                .split('/')
                .any(|part| part == "tests" || part == "tests.rs")
            {
                continue;
            }
            let text = std::fs::read_to_string(&path).expect("read source");
            files.insert(rel.clone(), File::parse(&rel, &text));
        }
        let by_module = files
            .iter()
            .map(|(name, f)| (f.module.clone(), name.clone()))
            .collect();
        let mut graph = Graph {
            files,
            by_module,
            edges: BTreeMap::new(),
        };
        let names: Vec<String> = graph.files.keys().cloned().collect();
        for name in names {
            let deps = graph.dependencies(&name);
            graph.edges.insert(name, deps);
        }
        graph
    }

    /// The files `name` depends on.
    fn dependencies(&self, name: &str) -> BTreeSet<String> {
        let file = &self.files[name];
        let mut deps = BTreeSet::new();
        let body = body_words(file);
        for (path, bound, is_pub) in &file.uses {
            if *is_pub && !body.contains(bound.as_str()) && bound != "*" {
                continue; // a pure re-export: whoever uses the name depends on its definition
            }
            if let Some(target) = self.resolve_use(&file.module, path, 0) {
                deps.insert(target);
            }
        }
        for path in inline_paths(&file.tokens) {
            if let Some(target) = self.resolve_use(&file.module, &path, 0) {
                deps.insert(target);
            }
        }
        deps.remove(name);
        deps
    }

    /// The file defining what `path`, written in module `from`, names.
    fn resolve_use(&self, from: &[String], path: &[String], depth: usize) -> Option<String> {
        if depth > 16 || path.is_empty() {
            return None;
        }
        let mut module: Vec<String> = match path[0].as_str() {
            "crate" => Vec::new(),
            "self" => from.to_vec(),
            "super" => from.to_vec(),
            // A child module of `from` (a path relative to the current module).
            first => {
                let mut child = from.to_vec();
                child.push(first.to_owned());
                if !self.by_module.contains_key(&child) {
                    return None; // another crate
                }
                from.to_vec()
            }
        };
        let mut rest = match path[0].as_str() {
            "crate" | "self" => &path[1..],
            "super" => {
                let mut i = 0;
                while path.get(i).map(String::as_str) == Some("super") {
                    module.pop();
                    i += 1;
                }
                &path[i..]
            }
            _ => path,
        };
        loop {
            let file_name = self.by_module.get(&module)?;
            let Some(segment) = rest.first() else {
                return Some(file_name.clone());
            };
            let mut child = module.clone();
            child.push(segment.clone());
            if self.by_module.contains_key(&child) {
                module = child;
                rest = &rest[1..];
                continue;
            }
            let file = &self.files[file_name];
            if file.defines.contains(segment.as_str()) || segment == "*" {
                return Some(file_name.clone());
            }
            // Re-exported here? Follow it.
            if let Some((path, _, _)) = file.uses.iter().find(|(_, bound, _)| bound == segment) {
                return self
                    .resolve_use(&file.module, path, depth + 1)
                    .or_else(|| Some(file_name.clone()));
            }
            return Some(file_name.clone());
        }
    }

    /// Strongly connected components of more than one file, each sorted, in sorted order.
    fn cycles(&self) -> Vec<Vec<String>> {
        struct Tarjan<'g> {
            graph: &'g Graph,
            index: HashMap<&'g str, usize>,
            low: HashMap<&'g str, usize>,
            stack: Vec<&'g str>,
            on_stack: BTreeSet<&'g str>,
            found: Vec<Vec<String>>,
        }
        impl<'g> Tarjan<'g> {
            fn visit(&mut self, v: &'g str) {
                let i = self.index.len();
                self.index.insert(v, i);
                self.low.insert(v, i);
                self.stack.push(v);
                self.on_stack.insert(v);
                for w in &self.graph.edges[v] {
                    let w = w.as_str();
                    if !self.index.contains_key(w) {
                        self.visit(w);
                        let lw = self.low[w];
                        let lv = self.low[v];
                        self.low.insert(v, lv.min(lw));
                    } else if self.on_stack.contains(w) {
                        let iw = self.index[w];
                        let lv = self.low[v];
                        self.low.insert(v, lv.min(iw));
                    }
                }
                if self.low[v] == self.index[v] {
                    let mut component = Vec::new();
                    while let Some(w) = self.stack.pop() {
                        self.on_stack.remove(w);
                        component.push(w.to_owned());
                        if w == v {
                            break;
                        }
                    }
                    if component.len() > 1 {
                        component.sort();
                        self.found.push(component);
                    }
                }
            }
        }
        let mut t = Tarjan {
            graph: self,
            index: HashMap::new(),
            low: HashMap::new(),
            stack: Vec::new(),
            on_stack: BTreeSet::new(),
            found: Vec::new(),
        };
        for v in self.edges.keys() {
            if !t.index.contains_key(v.as_str()) {
                t.visit(v);
            }
        }
        t.found.sort();
        t.found
    }
}

impl File {
    fn parse(rel: &str, text: &str) -> File {
        let mut module: Vec<String> = rel
            .trim_end_matches(".rs")
            .split('/')
            .map(str::to_owned)
            .collect();
        if module.last().map(String::as_str) == Some("mod")
            || module.last().map(String::as_str) == Some("lib")
        {
            module.pop();
        }
        let tokens = strip_test_modules(tokenize(text));
        let defines = definitions(&tokens);
        let uses = use_declarations(&tokens);
        File {
            module,
            tokens,
            defines,
            uses,
            lines: text.lines().count(),
        }
    }
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).expect("read dir").flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// Identifiers, `::`, and single punctuation characters; comments, strings and character
/// literals dropped (lifetimes kept as `'a` tokens).
fn tokenize(text: &str) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            while i < chars.len() {
                if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
                    depth += 1;
                    i += 2;
                } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
        } else if c == 'r' && (next == Some('"') || next == Some('#')) && raw_string_at(&chars, i) {
            i = skip_raw_string(&chars, i);
        } else if c == '"' {
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                if chars[i] == '\\' {
                    i += 1;
                }
                i += 1;
            }
            i += 1;
        } else if c == '\'' {
            // A char literal ('x', '\n', '\u{..}') or a lifetime ('a).
            if chars.get(i + 2) == Some(&'\'') {
                i += 3;
            } else if next == Some('\\') {
                i += 2;
                while i < chars.len() && chars[i] != '\'' {
                    i += 1;
                }
                i += 1;
            } else {
                i += 1;
                while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                    i += 1;
                }
            }
        } else if c.is_alphanumeric() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            out.push(chars[start..i].iter().collect());
        } else if c == ':' && next == Some(':') {
            out.push("::".to_owned());
            i += 2;
        } else if c.is_whitespace() {
            i += 1;
        } else {
            out.push(c.to_string());
            i += 1;
        }
    }
    out
}

fn raw_string_at(chars: &[char], i: usize) -> bool {
    let mut j = i + 1;
    while chars.get(j) == Some(&'#') {
        j += 1;
    }
    chars.get(j) == Some(&'"')
        && (i == 0 || !(chars[i - 1].is_alphanumeric() || chars[i - 1] == '_'))
}

fn skip_raw_string(chars: &[char], i: usize) -> usize {
    let mut j = i + 1;
    let mut hashes = 0;
    while chars.get(j) == Some(&'#') {
        hashes += 1;
        j += 1;
    }
    j += 1; // the opening quote
    while j < chars.len() {
        if chars[j] == '"' && (0..hashes).all(|k| chars.get(j + 1 + k) == Some(&'#')) {
            return j + 1 + hashes;
        }
        j += 1;
    }
    j
}

/// Drops `#[cfg(test)] mod name { ... }` and `#[cfg(test)] mod name;`.
fn strip_test_modules(tokens: Vec<String>) -> Vec<String> {
    let mut out = Vec::with_capacity(tokens.len());
    let mut i = 0;
    let is = |i: usize, s: &str| tokens.get(i).map(String::as_str) == Some(s);
    while i < tokens.len() {
        let cfg_test = is(i, "#")
            && is(i + 1, "[")
            && is(i + 2, "cfg")
            && is(i + 3, "(")
            && is(i + 4, "test")
            && is(i + 5, ")")
            && is(i + 6, "]");
        if cfg_test {
            let mut j = i + 7;
            while is(j, "pub") || is(j, "(") || is(j, "crate") || is(j, "super") || is(j, ")") {
                j += 1;
            }
            if is(j, "mod") {
                j += 2;
                if is(j, "{") {
                    let mut depth = 0;
                    while j < tokens.len() {
                        match tokens[j].as_str() {
                            "{" => depth += 1,
                            "}" => {
                                depth -= 1;
                                if depth == 0 {
                                    break;
                                }
                            }
                            _ => {}
                        }
                        j += 1;
                    }
                }
                i = j + 1;
                continue;
            }
        }
        out.push(tokens[i].clone());
        i += 1;
    }
    out
}

fn definitions(tokens: &[String]) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for w in tokens.windows(2) {
        if matches!(
            w[0].as_str(),
            "struct" | "enum" | "trait" | "fn" | "type" | "const" | "static" | "union" | "mod"
        ) && is_ident(&w[1])
        {
            out.insert(w[1].clone());
        }
    }
    for w in tokens.windows(3) {
        if w[0] == "macro_rules" && w[1] == "!" {
            out.insert(w[2].clone());
        }
    }
    out
}

fn is_ident(s: &str) -> bool {
    s.chars()
        .next()
        .is_some_and(|c| c.is_alphabetic() || c == '_')
}

/// Every `use` declaration, its tree expanded: (path, bound name, is `pub`).
fn use_declarations(tokens: &[String]) -> Vec<(Vec<String>, String, bool)> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        if tokens[i] == "use" && (i == 0 || tokens[i - 1] != "::") {
            let is_pub = i >= 1
                && (tokens[i - 1] == "pub"
                    || (tokens[i - 1] == ")" && i >= 4 && tokens[i - 4] == "pub"));
            let end = tokens[i..]
                .iter()
                .position(|t| t == ";")
                .map_or(tokens.len(), |p| i + p);
            let mut pos = i + 1;
            expand_tree(&tokens[..end], &mut pos, Vec::new(), is_pub, &mut out);
            i = end + 1;
        } else {
            i += 1;
        }
    }
    out
}

fn expand_tree(
    tokens: &[String],
    pos: &mut usize,
    mut prefix: Vec<String>,
    is_pub: bool,
    out: &mut Vec<(Vec<String>, String, bool)>,
) {
    while *pos < tokens.len() {
        let t = tokens[*pos].as_str();
        match t {
            "::" => *pos += 1,
            "{" => {
                *pos += 1;
                loop {
                    expand_tree(tokens, pos, prefix.clone(), is_pub, out);
                    match tokens.get(*pos).map(String::as_str) {
                        Some(",") => *pos += 1,
                        Some("}") => {
                            *pos += 1;
                            return;
                        }
                        _ => return,
                    }
                    if tokens.get(*pos).map(String::as_str) == Some("}") {
                        *pos += 1;
                        return;
                    }
                }
            }
            "," | "}" => break,
            "*" => {
                *pos += 1;
                out.push((prefix.clone(), "*".to_owned(), is_pub));
                return;
            }
            "as" => {
                let alias = tokens.get(*pos + 1).cloned().unwrap_or_default();
                *pos += 2;
                if prefix.last().map(String::as_str) != Some("self") {
                    out.push((prefix, alias, is_pub));
                } else {
                    prefix.pop();
                    out.push((prefix, alias, is_pub));
                }
                return;
            }
            ident => {
                prefix.push(ident.to_owned());
                *pos += 1;
            }
        }
    }
    if let Some(last) = prefix.last().cloned() {
        if last == "self" {
            prefix.pop();
            let bound = prefix.last().cloned().unwrap_or_default();
            out.push((prefix, bound, is_pub));
        } else {
            out.push((prefix, last, is_pub));
        }
    }
}

/// `crate::a::b`, `super::a`, `self::a` paths outside `use` declarations.
fn inline_paths(tokens: &[String]) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        if tokens[i] == "use" && (i == 0 || tokens[i - 1] != "::") {
            while i < tokens.len() && tokens[i] != ";" {
                i += 1;
            }
            continue;
        }
        let starts = matches!(tokens[i].as_str(), "crate" | "super" | "self")
            && tokens.get(i + 1).map(String::as_str) == Some("::")
            && (i == 0 || tokens[i - 1] != "::");
        if starts {
            let mut path = vec![tokens[i].clone()];
            let mut j = i + 1;
            while tokens.get(j).map(String::as_str) == Some("::")
                && tokens.get(j + 1).is_some_and(|t| is_ident(t))
            {
                path.push(tokens[j + 1].clone());
                j += 2;
            }
            out.push(path);
            i = j;
        } else {
            i += 1;
        }
    }
    out
}

/// The words of the file outside its `use` declarations.
fn body_words(file: &File) -> BTreeSet<&str> {
    let mut words = BTreeSet::new();
    let tokens = &file.tokens;
    let mut i = 0;
    while i < tokens.len() {
        if tokens[i] == "use" && (i == 0 || tokens[i - 1] != "::") {
            while i < tokens.len() && tokens[i] != ";" {
                i += 1;
            }
            continue;
        }
        words.insert(tokens[i].as_str());
        i += 1;
    }
    words
}
