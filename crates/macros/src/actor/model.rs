//! The actor as the macro sees it: its exposed methods and lifecycle hooks, validated.
//!
//! Every rule that the generated code relies on is checked here, so that a user sees one clear
//! error naming `#[actor]` on their own tokens instead of a type error inside the expansion.

use std::collections::HashMap;

use quote::{format_ident, quote};
use syn::ext::IdentExt;
use syn::{
    Attribute, FnArg, Ident, ImplItem, ImplItemFn, ItemImpl, LitStr, Pat, ReturnType, Signature,
    Type, Visibility,
};

use super::args::{ActorArgs, Errors, MethodArgs};
use super::types::{check_owned, context_ref, is_unit, result_types, Position};

/// The two lifecycle hooks, found by name.
const ON_ACTIVATE: &str = "on_activate";
const ON_DEACTIVATE: &str = "on_deactivate";

/// Methods every generated proxy has; an actor method may not take their names.
const PROXY_METHODS: &[&str] = &["id", "actor_ref"];

/// A validated `#[actor]` impl.
pub(crate) struct ActorDef {
    /// The impl's self type, as written.
    pub(crate) self_ty: Type,
    /// The struct's name (the last path segment of `self_ty`).
    pub(crate) ident: Ident,
    /// The actor type name.
    pub(crate) name: LitStr,
    /// The exposed methods, in declaration order.
    pub(crate) methods: Vec<Method>,
    pub(crate) on_activate: Option<Hook>,
    pub(crate) on_deactivate: Option<Hook>,
}

/// How a method uses the state struct.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access {
    /// `&self`: read-only, never writes the store.
    Read,
    /// `&mut self`: the struct is staged after success and restored after failure.
    Write,
}

/// A `pub async fn` (or `pub(crate)`, ...) of the actor: callable by its wire name.
pub(crate) struct Method {
    /// The method's visibility, which its proxy method gets too.
    pub(crate) vis: Visibility,
    pub(crate) ident: Ident,
    pub(crate) wire: LitStr,
    pub(crate) access: Access,
    /// The parameters after the receiver, in order.
    pub(crate) params: Vec<Param>,
    pub(crate) output: Output,
    /// The method's doc attributes, repeated on the proxy method.
    pub(crate) docs: Vec<Attribute>,
}

/// One parameter of a method.
pub(crate) enum Param {
    /// `&Context`: gets the turn's context, is not sent over the wire.
    Context,
    /// A serialized argument; `name` names it in the proxy.
    Value { name: Ident, ty: Box<Type> },
}

/// What a method returns.
pub(crate) enum Output {
    /// Nothing, or `()`.
    Unit,
    /// Any other type; always a success.
    Value(Box<Type>),
    /// `Result<T, E>`: `E` is the actor's own error, handed to typed callers.
    Result { ok: Box<Type>, err: Box<Type> },
}

/// `on_activate` / `on_deactivate`.
pub(crate) struct Hook {
    pub(crate) ident: Ident,
    pub(crate) access: Access,
    pub(crate) takes_ctx: bool,
    pub(crate) is_async: bool,
    /// Returns `Result<(), E>` rather than `()`.
    pub(crate) fallible: bool,
}

impl Method {
    /// The serialized arguments, without the context.
    pub(crate) fn values(&self) -> impl Iterator<Item = (&Ident, &Type)> + '_ {
        self.params.iter().filter_map(|p| match p {
            Param::Context => None,
            Param::Value { name, ty } => Some((name, &**ty)),
        })
    }
}

impl ActorDef {
    /// Reads and validates `item`, removing the `#[method]` helper attributes from it (also
    /// when it fails, so that the impl can still be emitted next to the errors).
    pub(crate) fn from_impl(
        item: &mut ItemImpl,
        args: syn::Result<ActorArgs>,
    ) -> syn::Result<Self> {
        let mut errors = Errors::default();
        let args = errors.ok(args).unwrap_or_default();
        let head = errors.ok(check_impl(item));

        let mut methods: Vec<Method> = Vec::new();
        let (mut on_activate, mut on_deactivate) = (None, None);
        for impl_item in &mut item.items {
            let ImplItem::Fn(f) = impl_item else { continue };
            let Some(method_args) = errors.ok(MethodArgs::take(&mut f.attrs)) else {
                continue;
            };
            let name = f.sig.ident.unraw().to_string();
            if name == ON_ACTIVATE || name == ON_DEACTIVATE {
                if let Some(attr) = &method_args.attr {
                    errors.push(syn::Error::new_spanned(
                        attr,
                        format!("#[method] does not apply to the lifecycle hook `{name}`: hooks are not callable methods"),
                    ));
                }
                let hook = errors.ok(hook(f));
                if name == ON_ACTIVATE {
                    on_activate = hook;
                } else {
                    on_deactivate = hook;
                }
            } else if !matches!(f.vis, Visibility::Inherited) {
                if let Some(m) = errors.ok(method(f, method_args)) {
                    methods.push(m);
                }
            } else if let Some(attr) = &method_args.attr {
                errors.push(syn::Error::new_spanned(
                    attr,
                    format!("#[method] applies to the `pub async fn` methods of an #[actor] impl; `{name}` is not `pub`, so it is not exposed"),
                ));
            }
        }
        errors.ok(check_names(&methods));
        let ident = errors.finish_with(head)?;
        let name = args
            .name
            .unwrap_or_else(|| LitStr::new(&ident.unraw().to_string(), ident.span()));
        Ok(Self {
            self_ty: (*item.self_ty).clone(),
            ident,
            name,
            methods,
            on_activate,
            on_deactivate,
        })
    }
}

/// Checks the impl block itself; returns the struct's name.
fn check_impl(item: &ItemImpl) -> syn::Result<Ident> {
    if let Some((bang, path, for_token)) = &item.trait_ {
        let (impl_token, self_ty) = (&item.impl_token, &item.self_ty);
        return Err(syn::Error::new_spanned(
            quote!(#impl_token #bang #path #for_token #self_ty),
            "#[actor] goes on the inherent impl of the actor's struct (`impl Cart { ... }`), not on a trait impl",
        ));
    }
    let generics = &item.generics;
    if !generics.params.is_empty() || generics.where_clause.is_some() {
        let where_clause = &generics.where_clause;
        return Err(syn::Error::new_spanned(
            quote!(#generics #where_clause),
            "#[actor] impls cannot be generic: an actor type is one concrete struct",
        ));
    }
    let Type::Path(path) = &*item.self_ty else {
        return Err(syn::Error::new_spanned(
            &item.self_ty,
            "#[actor] goes on the impl of a named struct (`impl Cart { ... }`)",
        ));
    };
    match path.path.segments.last() {
        Some(last) if path.qself.is_none() && last.arguments.is_none() => Ok(last.ident.clone()),
        _ => Err(syn::Error::new_spanned(
            &item.self_ty,
            "#[actor] impls cannot be generic: an actor type is one concrete struct",
        )),
    }
}

/// Wire names must be unique, and Rust names must not clash with the proxy's own methods.
fn check_names(methods: &[Method]) -> syn::Result<()> {
    let mut errors = Errors::default();
    let mut seen: HashMap<String, &Ident> = HashMap::new();
    for m in methods {
        let wire = m.wire.value();
        if let Some(first) = seen.get(&wire) {
            errors.push(syn::Error::new_spanned(
                &m.wire,
                format!("#[actor] wire name \"{wire}\" is used twice: by `{first}` and by `{}`; rename one with #[method(name = \"...\")]", m.ident),
            ));
        } else {
            seen.insert(wire, &m.ident);
        }
        if PROXY_METHODS.iter().any(|p| m.ident == p) {
            errors.push(syn::Error::new_spanned(
                &m.ident,
                format!("#[actor] method `{0}` clashes with the generated proxy's own `{0}()`; rename the Rust method and keep the wire name with #[method(name = \"{0}\")]", m.ident),
            ));
        }
    }
    errors.finish()
}

/// Checks what every exposed method and hook shares: an `&self`/`&mut self` receiver, no
/// generics, no `unsafe`/`extern`.
fn check_signature(sig: &Signature, what: &str) -> syn::Result<Access> {
    let mut errors = Errors::default();
    let (fn_token, ident) = (&sig.fn_token, &sig.ident);
    if let Some(unsafety) = &sig.unsafety {
        errors.push(syn::Error::new_spanned(
            unsafety,
            format!("#[actor] {what} cannot be `unsafe`"),
        ));
    }
    if let Some(abi) = &sig.abi {
        errors.push(syn::Error::new_spanned(
            abi,
            format!("#[actor] {what} cannot be `extern`"),
        ));
    }
    if !sig.generics.params.is_empty() {
        errors.push(syn::Error::new_spanned(
            &sig.generics,
            format!("#[actor] {what} cannot have generic parameters (type, const or lifetime): the host calls them by name, with concrete owned types"),
        ));
    } else if let Some(where_clause) = &sig.generics.where_clause {
        errors.push(syn::Error::new_spanned(
            where_clause,
            format!("#[actor] {what} cannot have `where` clauses: the host calls them by name, with concrete owned types"),
        ));
    }
    let access = match sig.receiver() {
        None => {
            errors.push(syn::Error::new_spanned(
                quote!(#fn_token #ident),
                format!("#[actor] {what} must take `&self` (read-only) or `&mut self` (state-changing); `{ident}` has no receiver: move associated functions to a separate `impl` block"),
            ));
            None
        }
        Some(r) if r.colon_token.is_some() => {
            errors.push(syn::Error::new_spanned(
                r,
                format!("#[actor] {what} must take `&self` (read-only) or `&mut self` (state-changing), not a typed `self`"),
            ));
            None
        }
        Some(r) if r.reference.is_none() => {
            errors.push(syn::Error::new_spanned(
                r,
                format!("#[actor] {what} cannot take `self` by value: the state stays in the actor; take `&self` (read-only) or `&mut self` (state-changing)"),
            ));
            None
        }
        Some(r) if r.mutability.is_some() => Some(Access::Write),
        Some(_) => Some(Access::Read),
    };
    errors.finish_with(access)
}

fn method(f: &ImplItemFn, args: MethodArgs) -> syn::Result<Method> {
    let sig = &f.sig;
    let mut errors = Errors::default();
    let access = errors.ok(check_signature(sig, "methods"));
    if sig.asyncness.is_none() {
        let (fn_token, ident) = (&sig.fn_token, &sig.ident);
        errors.push(syn::Error::new_spanned(
            quote!(#fn_token #ident),
            format!("#[actor] methods must be `async fn`: write `pub async fn {ident}`, or make `{ident}` non-`pub` to keep it out of the actor's interface"),
        ));
    }
    let mut params = Vec::new();
    let mut has_ctx = false;
    for (i, input) in sig.inputs.iter().enumerate() {
        let FnArg::Typed(arg) = input else { continue };
        match context_ref(&arg.ty) {
            Some(false) if has_ctx => errors.push(syn::Error::new_spanned(
                &arg.ty,
                "#[actor] methods take the `&Context` at most once",
            )),
            Some(false) => {
                has_ctx = true;
                params.push(Param::Context);
            }
            Some(true) => errors.push(syn::Error::new_spanned(
                &arg.ty,
                "#[actor] methods take the context as `&Context`, not `&mut Context`",
            )),
            None => {
                errors.ok(check_owned(&arg.ty, Position::Argument));
                let name = match &*arg.pat {
                    Pat::Ident(p) if p.by_ref.is_none() && p.subpat.is_none() => p.ident.clone(),
                    _ => format_ident!("arg{}", i),
                };
                params.push(Param::Value {
                    name,
                    ty: arg.ty.clone(),
                });
            }
        }
    }
    let output = match &sig.output {
        ReturnType::Default => Output::Unit,
        ReturnType::Type(_, ty) => {
            errors.ok(check_owned(ty, Position::Return));
            if is_unit(ty) {
                Output::Unit
            } else if let Some((ok, err)) = result_types(ty) {
                Output::Result {
                    ok: Box::new(ok),
                    err: Box::new(err),
                }
            } else {
                Output::Value(ty.clone())
            }
        }
    };
    let access = errors.finish_with(access)?;
    let wire = args
        .name
        .unwrap_or_else(|| LitStr::new(&sig.ident.unraw().to_string(), sig.ident.span()));
    Ok(Method {
        vis: f.vis.clone(),
        ident: sig.ident.clone(),
        wire,
        access,
        params,
        output,
        docs: f
            .attrs
            .iter()
            .filter(|a| a.path().is_ident("doc"))
            .cloned()
            .collect(),
    })
}

fn hook(f: &ImplItemFn) -> syn::Result<Hook> {
    let sig = &f.sig;
    let ident = &sig.ident;
    let what = format!("lifecycle hook `{ident}`");
    let mut errors = Errors::default();
    let access = errors.ok(check_signature(sig, &what));
    let mut takes_ctx = false;
    for input in &sig.inputs {
        let FnArg::Typed(arg) = input else { continue };
        if context_ref(&arg.ty) == Some(false) && !takes_ctx {
            takes_ctx = true;
        } else {
            errors.push(syn::Error::new_spanned(
                arg,
                format!("#[actor] {what} takes only its receiver and, optionally, `&Context`"),
            ));
        }
    }
    let fallible = match &sig.output {
        ReturnType::Default => false,
        ReturnType::Type(_, ty) if is_unit(ty) => false,
        ReturnType::Type(_, ty) => match result_types(ty) {
            Some((ok, _)) if is_unit(&ok) => true,
            _ => {
                errors.push(syn::Error::new_spanned(
                    ty,
                    format!("#[actor] {what} must return `()` or `Result<(), E>`"),
                ));
                false
            }
        },
    };
    let access = errors.finish_with(access)?;
    Ok(Hook {
        ident: ident.clone(),
        access,
        takes_ctx,
        is_async: sig.asyncness.is_some(),
        fallible,
    })
}
