//! The generated `impl TypedActor`: one `match` arm per method, plus the lifecycle hooks.
//!
//! Per call: decode the arguments, take the state (`read` for `&self`, `write` for `&mut self`),
//! run the method, encode the reply. A `&mut self` method's struct is staged after success and
//! put back to its committed value after any failure, so the in-memory struct never drifts from
//! the store; `&self` methods never touch the store.

use proc_macro2::TokenStream;
use quote::{format_ident, quote};

use super::model::{Access, ActorDef, Hook, Method, Output, Param};

pub(crate) fn typed_actor_impl(def: &ActorDef) -> TokenStream {
    let ActorDef { self_ty, name, .. } = def;
    let proxy = super::proxy::proxy_ident(def);
    let arms = def.methods.iter().map(arm);
    let wires = def.methods.iter().map(|m| &m.wire);
    let activated = def.on_activate.as_ref().map(|h| hook(h, quote!(activated)));
    let deactivating = def
        .on_deactivate
        .as_ref()
        .map(|h| hook(h, quote!(deactivating)));
    quote! {
        impl ::weft::actor::TypedActor for #self_ty {
            const ACTOR_TYPE: &'static str = #name;
            type Proxy = #proxy;

            // The state guard lives to the end of each arm on purpose: a failed `&mut self`
            // method restores the struct through it.
            #[allow(clippy::significant_drop_tightening)]
            async fn dispatch(
                cell: &::weft::actor::ActorCell<Self>,
                ctx: &::weft::Context,
                call: ::weft::Call,
            ) -> ::core::result::Result<::weft::__private::Bytes, ::weft::Error> {
                let actor_type = <Self as ::weft::actor::TypedActor>::ACTOR_TYPE;
                match call.method() {
                    #(#arms)*
                    _ => ::core::result::Result::Err(::weft::__private::unknown_method(
                        &call,
                        actor_type,
                        &[#(#wires),*],
                    )),
                }
            }

            #activated
            #deactivating
        }
    }
}

/// `"wire" => { ... }` for one method.
fn arm(m: &Method) -> TokenStream {
    let Method {
        ident,
        wire,
        access,
        ..
    } = m;
    let values: Vec<_> = m.values().collect();
    let names: Vec<_> = (0..values.len())
        .map(|i| format_ident!("arg{}", i))
        .collect();
    let types = values.iter().map(|(_, ty)| ty);
    let decode = match values.len() {
        0 => quote!(::weft::__private::decode_args::<()>(&call, actor_type)?;),
        1 => {
            quote!(let #(#names)* = ::weft::__private::decode_args::<#(#types)*>(&call, actor_type)?;)
        }
        _ => {
            quote!(let (#(#names),*) = ::weft::__private::decode_args::<(#(#types),*)>(&call, actor_type)?;)
        }
    };
    let mut names = names.iter();
    let args = m.params.iter().map(|p| match p {
        Param::Context => quote!(ctx),
        Param::Value { .. } => {
            let name = names.next();
            quote!(#name)
        }
    });
    let (lock, receiver) = match access {
        Access::Read => (quote!(let state = cell.read()?;), quote!(&*state)),
        Access::Write => (quote!(let mut state = cell.write()?;), quote!(&mut *state)),
    };
    let run = quote!(Self::#ident(#receiver #(, #args)*).await);
    // `reply`: the encoded success, or the error for the caller.
    let reply = match &m.output {
        Output::Unit => quote! {
            #run;
            let reply = ::weft::__private::encode_reply(&call, &());
        },
        Output::Value(_) => quote! {
            let out = #run;
            let reply = ::weft::__private::encode_reply(&call, &out);
        },
        Output::Result { .. } => quote! {
            let reply = match #run {
                ::core::result::Result::Ok(out) => ::weft::__private::encode_reply(&call, &out),
                ::core::result::Result::Err(e) => ::core::result::Result::Err(
                    ::weft::__private::app_error(&call, actor_type, &e),
                ),
            };
        },
    };
    let finish = match access {
        Access::Read => quote!(reply),
        Access::Write => quote! {
            let reply = match reply {
                ::core::result::Result::Ok(bytes) => {
                    cell.stage(ctx, &*state).await.map(|()| bytes)
                }
                ::core::result::Result::Err(e) => ::core::result::Result::Err(e),
            };
            if reply.is_err() {
                // The turn commits nothing: put the struct back to what the store holds.
                cell.restore(ctx, &mut *state).await?;
            }
            reply
        },
    };
    quote! {
        #wire => {
            #decode
            #lock
            #reply
            #finish
        }
    }
}

/// `activated` / `deactivating`, calling the user's hook.
fn hook(h: &Hook, trait_fn: TokenStream) -> TokenStream {
    let ident = &h.ident;
    let (lock, receiver) = match h.access {
        Access::Read => (quote!(let state = cell.read()?;), quote!(&*state)),
        Access::Write => (quote!(let mut state = cell.write()?;), quote!(&mut *state)),
    };
    let ctx_arg = h.takes_ctx.then(|| quote!(, ctx));
    let wait = h.is_async.then(|| quote!(.await));
    let run = quote!(Self::#ident(#receiver #ctx_arg) #wait);
    let hook_name = ident.to_string();
    let run = if h.fallible {
        quote! {
            if let ::core::result::Result::Err(e) = #run {
                return ::core::result::Result::Err(::weft::Error::new(
                    ::weft::ErrorKind::ActorFailed,
                    ::std::format!(
                        "{}.{} failed: {:?}",
                        <Self as ::weft::actor::TypedActor>::ACTOR_TYPE,
                        #hook_name,
                        e
                    ),
                ));
            }
        }
    } else {
        quote!(#run;)
    };
    let (ctx_param, finish) = match h.access {
        Access::Read if !h.takes_ctx => (quote!(_ctx), quote!(::core::result::Result::Ok(()))),
        Access::Read => (quote!(ctx), quote!(::core::result::Result::Ok(()))),
        Access::Write => (quote!(ctx), quote!(cell.stage(ctx, &*state).await)),
    };
    quote! {
        async fn #trait_fn(
            cell: &::weft::actor::ActorCell<Self>,
            #ctx_param: &::weft::Context,
        ) -> ::core::result::Result<(), ::weft::Error> {
            #lock
            #run
            #finish
        }
    }
}
