from servicekit.cli import main

from payments.app import define

main(define)
