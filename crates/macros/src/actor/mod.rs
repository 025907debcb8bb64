//! `#[actor]`: reads the impl block ([`model`]), then emits it unchanged (minus `#[method]`
//! attributes), the `TypedActor` impl ([`dispatch`]) and the proxy ([`proxy`]).

mod args;
mod dispatch;
mod model;
mod proxy;
mod types;

use proc_macro2::TokenStream;
use quote::{quote, ToTokens};

use self::args::ActorArgs;
use self::model::ActorDef;

pub(crate) fn expand(args: TokenStream, item: TokenStream) -> TokenStream {
    let item: syn::Item = match syn::parse2(item) {
        Ok(item) => item,
        Err(e) => return e.to_compile_error(),
    };
    let syn::Item::Impl(mut imp) = item else {
        let error = syn::Error::new_spanned(
            item_head(&item),
            "#[actor] goes on the inherent impl block of the actor's struct: \
             `#[weft::actor] impl Cart { pub async fn add(&mut self, ..) .. }`",
        )
        .to_compile_error();
        return quote!(#item #error);
    };
    // On error the impl is still emitted (without the `#[method]` helpers), so the user sees
    // only the macro's errors and not a cascade about a missing impl.
    match ActorDef::from_impl(&mut imp, ActorArgs::parse(args)) {
        Ok(def) => {
            let typed = dispatch::typed_actor_impl(&def);
            let proxy = proxy::proxy(&def);
            quote!(#imp #typed #proxy)
        }
        Err(e) => {
            let mut out = imp.into_token_stream();
            out.extend(e.to_compile_error());
            out
        }
    }
}

/// The tokens that name an item in an error about the item as a whole: its head, not its body.
fn item_head(item: &syn::Item) -> TokenStream {
    match item {
        syn::Item::Struct(s) => {
            let (t, i) = (&s.struct_token, &s.ident);
            quote!(#t #i)
        }
        syn::Item::Enum(e) => {
            let (t, i) = (&e.enum_token, &e.ident);
            quote!(#t #i)
        }
        syn::Item::Fn(f) => {
            let (t, i) = (&f.sig.fn_token, &f.sig.ident);
            quote!(#t #i)
        }
        syn::Item::Trait(t) => {
            let (k, i) = (&t.trait_token, &t.ident);
            quote!(#k #i)
        }
        syn::Item::Mod(m) => {
            let (k, i) = (&m.mod_token, &m.ident);
            quote!(#k #i)
        }
        other => other.to_token_stream(),
    }
}
