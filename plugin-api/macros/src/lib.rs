//! The `#[interface]` attribute: turns a plain Rust trait into an ecdysis module interface.
//!
//! For a trait `Counter` it generates, next to the unchanged trait:
//! - `CounterTable`, the `#[repr(C)]` table of `extern "C"` functions a plugin exports;
//! - one panic-catching shim per method, generic over the plugin type, that the table points to;
//! - `CounterProxy`, the host-side typed caller that returns `Result<_, CallError>`;
//! - `impl Interface for dyn Counter` with the interface id and a fingerprint of every signature,
//!   and `impl Implementation<P> for dyn Counter`, which builds the table for a plugin type `P`.
//!
//! Arguments cross as they are when they are primitives (`u8`..`u64`, `i8`..`i64`, `usize`,
//! `isize`, `f32`, `f64`, `bool`), as pointer and length when they are `&str` or `&[u8]`, and as
//! MessagePack otherwise. Results cross as they are when primitive, as raw bytes when `Vec<u8>`, and
//! as MessagePack otherwise, always copied into memory of the caller.

use proc_macro::TokenStream;
use proc_macro2::{Span, TokenStream as TokenStream2};
use quote::{format_ident, quote};
use syn::spanned::Spanned;
use syn::{FnArg, ItemTrait, LitStr, Pat, ReturnType, TraitItem, Type};

/// Marks a trait as an ecdysis module interface. See the crate documentation of
/// `ecdysis_plugin_api` for what it generates; `#[interface(id = "name")]` sets the interface id,
/// which defaults to the trait's name.
#[proc_macro_attribute]
pub fn interface(attribute: TokenStream, item: TokenStream) -> TokenStream {
    let item_trait = syn::parse_macro_input!(item as ItemTrait);
    let mut id: Option<LitStr> = None;
    if !attribute.is_empty() {
        let parser = syn::meta::parser(|meta| {
            if meta.path.is_ident("id") {
                id = Some(meta.value()?.parse()?);
                Ok(())
            } else {
                Err(meta.error("unknown interface option; the only option is `id = \"...\"`"))
            }
        });
        syn::parse_macro_input!(attribute with parser);
    }
    match expand(&item_trait, id) {
        Ok(tokens) => tokens.into(),
        Err(error) => error.to_compile_error().into(),
    }
}

const PRIMITIVES: &[&str] = &["u8", "u16", "u32", "u64", "usize", "i8", "i16", "i32", "i64", "isize", "f32", "f64", "bool"];

/// How one argument or result crosses the boundary.
#[allow(clippy::large_enum_variant)] // Compile-time only, a handful per method.
enum Crossing {
    /// Passed by value, unchanged.
    Primitive,
    /// `&str` as a `RawStr`.
    Str,
    /// `&[u8]` as a `RawSlice<u8>`.
    Bytes,
    /// Any serde type as MessagePack bytes; `by_reference` when the argument is `&T`.
    MessagePack { by_reference: bool, owned: Type },
    /// `()` or no return type.
    Unit,
    /// A `Vec<u8>` result, copied out as it is (MessagePack would make it an array of integers).
    RawBytes,
}

fn is_primitive(ty: &Type) -> bool {
    matches!(ty, Type::Path(path) if path.qself.is_none() && path.path.get_ident().is_some_and(|ident| PRIMITIVES.contains(&ident.to_string().as_str())))
}

fn is_byte_vector(ty: &Type) -> bool {
    let Type::Path(path) = ty else { return false };
    let Some(last) = path.path.segments.last() else { return false };
    if path.qself.is_some() || last.ident != "Vec" {
        return false;
    }
    let syn::PathArguments::AngleBracketed(arguments) = &last.arguments else { return false };
    matches!(arguments.args.first(), Some(syn::GenericArgument::Type(Type::Path(element))) if arguments.args.len() == 1 && element.path.is_ident("u8"))
}

fn classify_argument(ty: &Type) -> syn::Result<Crossing> {
    if is_primitive(ty) {
        return Ok(Crossing::Primitive);
    }
    if let Type::Reference(reference) = ty {
        if reference.mutability.is_some() {
            return Err(syn::Error::new(
                ty.span(),
                "interface methods cannot take `&mut` arguments; the plugin cannot write into the caller's memory",
            ));
        }
        match &*reference.elem {
            Type::Path(path) if path.path.is_ident("str") => return Ok(Crossing::Str),
            Type::Slice(slice) if matches!(&*slice.elem, Type::Path(path) if path.path.is_ident("u8")) => return Ok(Crossing::Bytes),
            elem => return Ok(Crossing::MessagePack { by_reference: true, owned: elem.clone() }),
        }
    }
    Ok(Crossing::MessagePack { by_reference: false, owned: ty.clone() })
}

fn classify_result(output: &ReturnType) -> syn::Result<Crossing> {
    match output {
        ReturnType::Default => Ok(Crossing::Unit),
        ReturnType::Type(_, ty) => match &**ty {
            Type::Tuple(tuple) if tuple.elems.is_empty() => Ok(Crossing::Unit),
            Type::Reference(_) => Err(syn::Error::new(
                ty.span(),
                "interface methods cannot return references; return an owned value, which is copied to the caller",
            )),
            ty if is_primitive(ty) => Ok(Crossing::Primitive),
            ty if is_byte_vector(ty) => Ok(Crossing::RawBytes),
            ty => Ok(Crossing::MessagePack { by_reference: false, owned: ty.clone() }),
        },
    }
}

fn expand(item_trait: &ItemTrait, id: Option<LitStr>) -> syn::Result<TokenStream2> {
    let api = quote!(::ecdysis_plugin_api);
    let private = quote!(#api::__private);
    let vis = &item_trait.vis;
    let trait_name = &item_trait.ident;
    if !item_trait.generics.params.is_empty() {
        return Err(syn::Error::new(item_trait.generics.span(), "interface traits cannot be generic"));
    }
    let id = id.unwrap_or_else(|| LitStr::new(&trait_name.to_string(), Span::call_site()));
    let table_name = format_ident!("{}Table", trait_name);
    let proxy_name = format_ident!("{}Proxy", trait_name);

    let mut canonical = String::from("ecdysis-interface/2;");
    let mut table_fields = Vec::new();
    let mut table_entries = Vec::new();
    let mut shims = Vec::new();
    let mut proxy_methods = Vec::new();

    for item in &item_trait.items {
        let TraitItem::Fn(method) = item else {
            return Err(syn::Error::new(item.span(), "interface traits may contain only methods"));
        };
        let signature = &method.sig;
        if method.default.is_some() {
            return Err(syn::Error::new(
                method.span(),
                "interface methods cannot have a default body; every version implements every method",
            ));
        }
        if !signature.generics.params.is_empty()
            || signature.asyncness.is_some()
            || signature.variadic.is_some()
            || signature.unsafety.is_some()
        {
            return Err(syn::Error::new(signature.span(), "interface methods must be plain, non-generic, non-async, safe functions"));
        }
        let mut inputs = signature.inputs.iter();
        match inputs.next() {
            Some(FnArg::Receiver(receiver)) if receiver.reference.is_some() && receiver.mutability.is_none() => {}
            _ => return Err(syn::Error::new(signature.span(), "interface methods take `&self`; the plugin guards its own state")),
        }
        let method_name = &signature.ident;
        let shim_name = format_ident!("__ecdysis_shim_{}_{}", trait_name, method_name);
        let docs: Vec<_> = method.attrs.iter().filter(|attribute| attribute.path().is_ident("doc")).collect();

        let mut abi_params = Vec::new(); // `name: AbiType` in the table and shim
        let mut abi_types = Vec::new();
        let mut proxy_params = Vec::new(); // `name: UserType` in the proxy
        let mut proxy_prelude = Vec::new(); // encoding of MessagePack arguments
        let mut proxy_arguments = Vec::new(); // expressions passed to the table function
        let mut shim_prelude = Vec::new(); // decoding in the shim
        let mut call_arguments = Vec::new(); // expressions passed to the trait method
        let mut argument_types = Vec::new();

        for input in inputs {
            let FnArg::Typed(typed) = input else { unreachable!("only the first argument can be a receiver") };
            let Pat::Ident(pattern) = &*typed.pat else {
                return Err(syn::Error::new(typed.pat.span(), "interface arguments must be plain names"));
            };
            let name = &pattern.ident;
            let ty = &typed.ty;
            argument_types.push(quote!(#ty).to_string());
            proxy_params.push(quote!(#name: #ty));
            let (abi_type, proxy_argument, decode, call_argument) = match classify_argument(ty)? {
                Crossing::Primitive => (quote!(#ty), quote!(#name), quote!(), quote!(#name)),
                Crossing::Str => (
                    quote!(#api::abi::RawStr),
                    quote!(#api::abi::RawStr::new(#name)),
                    // SAFETY: the caller made this RawStr from a `&str` that lives for the call.
                    quote!(let #name: &str = unsafe { #name.as_str() };),
                    quote!(#name),
                ),
                Crossing::Bytes => (
                    quote!(#api::abi::RawSlice<u8>),
                    quote!(#api::abi::RawSlice::new(#name)),
                    // SAFETY: the caller made this RawSlice from a `&[u8]` that lives for the call.
                    quote!(let #name: &[u8] = unsafe { #name.as_slice() };),
                    quote!(#name),
                ),
                Crossing::MessagePack { by_reference, owned } => {
                    let encoded = format_ident!("__ecdysis_encoded_{}", name);
                    let borrow = if by_reference { quote!(#name) } else { quote!(&#name) };
                    proxy_prelude.push(quote! {
                        let #encoded = #private::encode(#borrow).map_err(|message| #api::CallError::Codec { message })?;
                    });
                    let pass = if by_reference { quote!(&#name) } else { quote!(#name) };
                    (
                        quote!(#api::abi::RawSlice<u8>),
                        quote!(#api::abi::RawSlice::new(&#encoded)),
                        quote! {
                            // SAFETY: the caller made this RawSlice from bytes that live for the call.
                            let #name: #owned = #private::decode(unsafe { #name.as_slice() }).map_err(#private::ShimFailure::Codec)?;
                        },
                        pass,
                    )
                }
                Crossing::Unit | Crossing::RawBytes => unreachable!("arguments are never unit or raw byte results"),
            };
            abi_params.push(quote!(#name: #abi_type));
            abi_types.push(abi_type);
            proxy_arguments.push(proxy_argument);
            shim_prelude.push(decode);
            call_arguments.push(call_argument);
        }

        let result = classify_result(&signature.output)?;
        let result_type = match &signature.output {
            ReturnType::Default => quote!(()),
            ReturnType::Type(_, ty) => quote!(#ty),
        };
        canonical.push_str(&format!("{}({})->{};", method_name, argument_types.join(","), result_type));

        let (out_param, out_type, out_local, out_argument, out_read, shim_write) = match &result {
            Crossing::Unit => (quote!(), quote!(), quote!(), quote!(), quote!(Ok(())), quote!(let () = __ecdysis_result;)),
            Crossing::Primitive => (
                quote!(__ecdysis_out: *mut #result_type,),
                quote!(*mut #result_type,),
                quote!(let mut __ecdysis_out = ::core::mem::MaybeUninit::<#result_type>::uninit();),
                quote!(__ecdysis_out.as_mut_ptr(),),
                // SAFETY: status OK means the shim wrote the result through the pointer.
                quote!(Ok(unsafe { __ecdysis_out.assume_init() })),
                // SAFETY: the caller passes a pointer to an uninitialised slot of the result type.
                quote!(unsafe { __ecdysis_out.write(__ecdysis_result) };),
            ),
            Crossing::MessagePack { owned, .. } => (
                quote!(mut __ecdysis_out: #api::abi::ByteSink<'_>,),
                quote!(#api::abi::ByteSink<'_>,),
                quote!(let mut __ecdysis_out = ::std::vec::Vec::new();),
                quote!(#api::abi::ByteSink::for_vec(&mut __ecdysis_out),),
                quote!(#private::decode::<#owned>(&__ecdysis_out).map_err(|message| #api::CallError::Codec { message })),
                quote!(__ecdysis_out.write(&#private::encode(&__ecdysis_result).map_err(#private::ShimFailure::Codec)?);),
            ),
            Crossing::RawBytes => (
                quote!(mut __ecdysis_out: #api::abi::ByteSink<'_>,),
                quote!(#api::abi::ByteSink<'_>,),
                quote!(let mut __ecdysis_out = ::std::vec::Vec::new();),
                quote!(#api::abi::ByteSink::for_vec(&mut __ecdysis_out),),
                quote!(Ok(__ecdysis_out)),
                quote!(__ecdysis_out.write(&__ecdysis_result);),
            ),
            Crossing::Str | Crossing::Bytes => unreachable!("results are classified as unit, primitive, raw bytes or MessagePack"),
        };

        table_fields.push(quote! {
            #[doc = concat!("The plugin's `", stringify!(#method_name), "`.")]
            pub #method_name: unsafe extern "C" fn(
                instance: *const ::core::ffi::c_void,
                #(#abi_types,)*
                #out_type
                error: #api::abi::ByteSink<'_>,
            ) -> #api::abi::CallStatus,
        });
        table_entries.push(quote!(#method_name: #shim_name::<P>,));
        shims.push(quote! {
            #[doc(hidden)]
            #[allow(non_snake_case)]
            unsafe extern "C" fn #shim_name<P: #trait_name>(
                instance: *const ::core::ffi::c_void,
                #(#abi_params,)*
                #out_param
                error: #api::abi::ByteSink<'_>,
            ) -> #api::abi::CallStatus {
                #private::guard(error, move || {
                    // SAFETY: the host passes the instance pointer that this plugin's `create` or
                    // `import_state` returned, which points to a live `P`.
                    let this: &P = unsafe { &*(instance as *const P) };
                    #(#shim_prelude)*
                    let __ecdysis_result = <P as #trait_name>::#method_name(this, #(#call_arguments),*);
                    #shim_write
                    Ok(())
                })
            }
        });
        proxy_methods.push(quote! {
            #(#docs)*
            ///
            /// # Errors
            /// When the plugin panics, or an argument or the result cannot be encoded or decoded.
            #[inline]
            pub fn #method_name(&self, #(#proxy_params),*) -> ::core::result::Result<#result_type, #api::CallError> {
                #(#proxy_prelude)*
                let mut __ecdysis_error = ::std::vec::Vec::new();
                #out_local
                // SAFETY: the table and instance belong together and stay alive while the proxy's
                // call guard holds this thread's in-flight mark; every argument lives for the call.
                let __ecdysis_status = unsafe {
                    (self.table.#method_name)(self.instance, #(#proxy_arguments,)* #out_argument #api::abi::ByteSink::for_vec(&mut __ecdysis_error))
                };
                #api::CallError::check(__ecdysis_status, __ecdysis_error)?;
                #out_read
            }
        });
    }

    let table_doc = format!("The `#[repr(C)]` function table of [`{trait_name}`], generated by `#[ecdysis_plugin_api::interface]`.");
    let proxy_doc = format!(
        "Calls into the current version of a module that implements [`{trait_name}`]; every method returns `Err` instead of unwinding when the plugin panics."
    );
    Ok(quote! {
        #item_trait

        #[doc = #table_doc]
        #[repr(C)]
        #vis struct #table_name {
            #(#table_fields)*
        }

        #(#shims)*

        #[doc = #proxy_doc]
        #vis struct #proxy_name<'call> {
            table: &'call #table_name,
            instance: *const ::core::ffi::c_void,
        }

        impl<'call> #proxy_name<'call> {
            #(#proxy_methods)*
        }

        // SAFETY: the table is generated from the trait's signatures, and the fingerprint covers every
        // one of them, so a table is only read as this type when both sides agree on its layout.
        unsafe impl #api::Interface for dyn #trait_name {
            type Table = #table_name;
            type Proxy<'call> = #proxy_name<'call>;
            const ID: &'static str = #id;
            const FINGERPRINT: u64 = #private::fnv1a64(#canonical.as_bytes());

            unsafe fn proxy<'call>(table: &'call #table_name, instance: *const ::core::ffi::c_void) -> #proxy_name<'call> {
                #proxy_name { table, instance }
            }
        }

        // SAFETY: every entry is the shim for the same method, instantiated for `P`.
        unsafe impl<P: #trait_name> #api::Implementation<P> for dyn #trait_name {
            const TABLE: #table_name = #table_name { #(#table_entries)* };
        }
    })
}
