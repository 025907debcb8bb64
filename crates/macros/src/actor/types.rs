//! What the macro reads from types: `&Context`, `()`, `Result<T, E>`, and whether a type can
//! cross the wire (owned and concrete).

use quote::ToTokens;
use syn::visit::Visit;
use syn::{GenericArgument, PathArguments, Type};

use super::args::Errors;

/// `Some(is_mut)` for `&Context` / `&mut Context` (any path ending in `Context`).
pub(crate) fn context_ref(ty: &Type) -> Option<bool> {
    let Type::Reference(r) = ty else { return None };
    let Type::Path(p) = &*r.elem else { return None };
    let last = p.path.segments.last()?;
    (p.qself.is_none() && last.ident == "Context" && last.arguments.is_none())
        .then_some(r.mutability.is_some())
}

pub(crate) fn is_unit(ty: &Type) -> bool {
    match ty {
        Type::Tuple(t) => t.elems.is_empty(),
        Type::Paren(p) => is_unit(&p.elem),
        _ => false,
    }
}

/// `Some((T, E))` for a type whose last path segment is `Result<T, E>`.
pub(crate) fn result_types(ty: &Type) -> Option<(Type, Type)> {
    let Type::Path(p) = ty else { return None };
    let last = p.path.segments.last()?;
    let PathArguments::AngleBracketed(args) = &last.arguments else {
        return None;
    };
    if last.ident != "Result" || args.args.len() != 2 {
        return None;
    }
    match (&args.args[0], &args.args[1]) {
        (GenericArgument::Type(ok), GenericArgument::Type(err)) => Some((ok.clone(), err.clone())),
        _ => None,
    }
}

#[derive(Clone, Copy)]
pub(crate) enum Position {
    Argument,
    Return,
}

/// Arguments and return values cross the wire: they must be owned, concrete types.
pub(crate) fn check_owned(ty: &Type, position: Position) -> syn::Result<()> {
    struct Borrows {
        position: Position,
        errors: Errors,
    }
    impl<'ast> Visit<'ast> for Borrows {
        fn visit_type_reference(&mut self, r: &'ast syn::TypeReference) {
            let message = match self.position {
                Position::Argument => "#[actor] method arguments must be owned values (they reach the actor serialized): take `String` instead of `&str`, `Vec<T>` instead of `&[T]`, `T` instead of `&T`",
                Position::Return => "#[actor] methods must return owned values (the reply goes back serialized): return `String`, `Vec<T>` or `T` instead of a reference",
            };
            self.errors.push(syn::Error::new_spanned(r, message));
        }
        fn visit_type_impl_trait(&mut self, t: &'ast syn::TypeImplTrait) {
            self.errors.push(syn::Error::new_spanned(
                t,
                "#[actor] methods cannot take or return `impl Trait`: use a concrete serde type",
            ));
        }
        fn visit_type_infer(&mut self, t: &'ast syn::TypeInfer) {
            self.errors.push(syn::Error::new_spanned(
                t,
                "#[actor] method signatures need concrete types, not `_`",
            ));
        }
        fn visit_lifetime(&mut self, l: &'ast syn::Lifetime) {
            if l.ident != "static" {
                self.errors.push(syn::Error::new_spanned(
                    l,
                    format!("#[actor] method arguments and return values cannot borrow (found `{}`): use owned types", l.to_token_stream()),
                ));
            }
        }
    }
    let mut visitor = Borrows {
        position,
        errors: Errors::default(),
    };
    visitor.visit_type(ty);
    visitor.errors.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ty(tokens: proc_macro2::TokenStream) -> Type {
        syn::parse2(tokens).unwrap()
    }

    #[test]
    fn result_is_found_by_its_last_segment_with_two_arguments() {
        assert!(result_types(&ty(quote::quote!(Result<u32, CartError>))).is_some());
        assert!(result_types(&ty(quote::quote!(std::result::Result<(), E>))).is_some());
        assert!(result_types(&ty(quote::quote!(io::Result<u32>))).is_none());
        assert!(result_types(&ty(quote::quote!(Option<u32>))).is_none());
    }

    #[test]
    fn context_is_a_shared_reference_to_any_path_ending_in_context() {
        assert_eq!(context_ref(&ty(quote::quote!(&Context))), Some(false));
        assert_eq!(context_ref(&ty(quote::quote!(&weft::Context))), Some(false));
        assert_eq!(context_ref(&ty(quote::quote!(&mut Context))), Some(true));
        assert_eq!(context_ref(&ty(quote::quote!(Context))), None);
        assert_eq!(context_ref(&ty(quote::quote!(&Ctx))), None);
    }

    #[test]
    fn only_owned_concrete_types_cross_the_wire() {
        for ok in [
            quote::quote!(String),
            quote::quote!(Vec<(String, i64)>),
            quote::quote!(Cow<'static, str>),
            quote::quote!([u8; 4]),
        ] {
            assert!(
                check_owned(&ty(ok.clone()), Position::Argument).is_ok(),
                "{ok}"
            );
        }
        for bad in [
            quote::quote!(&str),
            quote::quote!(Vec<&'static str>),
            quote::quote!(Cow<'a, str>),
            quote::quote!(impl Into<String>),
            quote::quote!(Vec<_>),
        ] {
            assert!(
                check_owned(&ty(bad.clone()), Position::Return).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn unit_may_be_parenthesized() {
        assert!(is_unit(&ty(quote::quote!(()))));
        assert!(is_unit(&ty(quote::quote!((())))));
        assert!(!is_unit(&ty(quote::quote!((u8,)))));
    }
}
