from servicekit.cli import main

from analytics.app import define

main(define)
