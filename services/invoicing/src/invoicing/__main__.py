from servicekit.cli import main

from invoicing.app import define

main(define)
