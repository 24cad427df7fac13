from servicekit.cli import main

from gateway.app import define

main(define)
