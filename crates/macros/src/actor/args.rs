//! The arguments of `#[actor(...)]` and of the `#[method(...)]` helper attribute.

use proc_macro2::TokenStream;
use syn::meta::ParseNestedMeta;
use syn::parse::Parser;
use syn::{Attribute, LitStr};

/// `#[actor(name = "cart")]`.
#[derive(Default)]
pub(crate) struct ActorArgs {
    /// The actor type name; default: the struct's name.
    pub(crate) name: Option<LitStr>,
}

impl ActorArgs {
    pub(crate) fn parse(args: TokenStream) -> syn::Result<Self> {
        let mut parsed = Self::default();
        let parser = syn::meta::parser(|meta| {
            if meta.path.is_ident("name") {
                let lit = name_value(&meta, "#[actor]", parsed.name.is_some())?;
                if lit.value().is_empty() || lit.value().contains("||") {
                    return Err(syn::Error::new_spanned(
                        &lit,
                        "#[actor] `name` must be non-empty and must not contain `||`",
                    ));
                }
                parsed.name = Some(lit);
                Ok(())
            } else {
                Err(unknown_key(&meta, "#[actor]"))
            }
        });
        parser.parse2(args)?;
        Ok(parsed)
    }
}

/// `#[method(name = "Clear")]` on a method of an `#[actor]` impl.
#[derive(Default)]
pub(crate) struct MethodArgs {
    /// The wire name; default: the method's name.
    pub(crate) name: Option<LitStr>,
    /// The attribute itself, for errors about where it was put.
    pub(crate) attr: Option<Attribute>,
}

impl MethodArgs {
    /// Removes every `#[method(...)]` attribute from `attrs` and parses them.
    pub(crate) fn take(attrs: &mut Vec<Attribute>) -> syn::Result<Self> {
        let mut parsed = Self::default();
        let mut errors = Errors::default();
        let mut kept = Vec::with_capacity(attrs.len());
        for attr in attrs.drain(..) {
            if !attr.path().is_ident("method") {
                kept.push(attr);
                continue;
            }
            if parsed.attr.is_some() {
                errors.push(syn::Error::new_spanned(
                    &attr,
                    "#[method] may appear only once on a method",
                ));
                continue;
            }
            // A bare `#[method]` sets nothing; `#[method(...)]` is parsed.
            if !matches!(attr.meta, syn::Meta::Path(_)) {
                let result = attr.parse_nested_meta(|meta| {
                    if meta.path.is_ident("name") {
                        let lit = name_value(&meta, "#[method]", parsed.name.is_some())?;
                        if lit.value().is_empty() {
                            return Err(syn::Error::new_spanned(
                                &lit,
                                "#[method] `name` must be non-empty",
                            ));
                        }
                        parsed.name = Some(lit);
                        Ok(())
                    } else {
                        Err(unknown_key(&meta, "#[method]"))
                    }
                });
                if let Err(e) = result {
                    errors.push(e);
                }
            }
            parsed.attr = Some(attr);
        }
        *attrs = kept;
        errors.finish()?;
        Ok(parsed)
    }
}

fn name_value(meta: &ParseNestedMeta<'_>, attr: &str, seen: bool) -> syn::Result<LitStr> {
    if seen {
        return Err(syn::Error::new_spanned(
            &meta.path,
            format!("{attr} `name` is given twice"),
        ));
    }
    match meta.value()?.parse::<syn::Expr>()? {
        syn::Expr::Lit(syn::ExprLit {
            lit: syn::Lit::Str(lit),
            ..
        }) => Ok(lit),
        other => Err(syn::Error::new_spanned(
            other,
            format!("{attr} `name` must be a string literal: `name = \"...\"`"),
        )),
    }
}

fn unknown_key(meta: &ParseNestedMeta<'_>, attr: &str) -> syn::Error {
    let key = quote::ToTokens::to_token_stream(&meta.path).to_string();
    syn::Error::new_spanned(
        &meta.path,
        format!("unknown {attr} argument `{key}`; the only one is `name = \"...\"`"),
    )
}

/// Collects errors so that one expansion reports all of them at once.
#[derive(Default)]
pub(crate) struct Errors(Option<syn::Error>);

impl Errors {
    pub(crate) fn push(&mut self, error: syn::Error) {
        match &mut self.0 {
            Some(all) => all.combine(error),
            None => self.0 = Some(error),
        }
    }

    /// Records the error of `result`, if any, and gives back its value.
    pub(crate) fn ok<T>(&mut self, result: syn::Result<T>) -> Option<T> {
        result.map_err(|e| self.push(e)).ok()
    }

    pub(crate) fn finish(self) -> syn::Result<()> {
        self.0.map_or(Ok(()), Err)
    }

    /// `value` when no error was recorded. Callers pass `None` only after recording the error
    /// that explains it; the fallback error below is for a bug in this crate.
    pub(crate) fn finish_with<T>(self, value: Option<T>) -> syn::Result<T> {
        self.finish()?;
        value.ok_or_else(|| {
            syn::Error::new(
                proc_macro2::Span::call_site(),
                "#[actor] failed without saying why (a bug in weft-macros)",
            )
        })
    }
}
