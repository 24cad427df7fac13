"""One async function per command; each opens its own tenant transaction."""
