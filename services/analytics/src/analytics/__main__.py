from analytics.app import define
from servicekit.cli import main

main(define)
